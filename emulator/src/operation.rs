//! The operations the emulator serves, by path.

/// An operation the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /api/v3/get-management-token`.
    GetManagementToken,
    /// `POST /api/v3/import-otp`.
    ImportOtp,
    /// `GET /api/v3/get-otp-secret-by-user`.
    GetOtpSecretByUser,
}

impl Operation {
    /// All operations.
    pub const ALL: [Self; 3] = [
        Self::GetManagementToken,
        Self::ImportOtp,
        Self::GetOtpSecretByUser,
    ];

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Self::GetManagementToken | Self::ImportOtp => "POST",
            Self::GetOtpSecretByUser => "GET",
        }
    }

    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            Self::GetManagementToken => "/api/v3/get-management-token",
            Self::ImportOtp => "/api/v3/import-otp",
            Self::GetOtpSecretByUser => "/api/v3/get-otp-secret-by-user",
        }
    }

    /// The operationId in the fragment.
    pub fn operation_id(self) -> &'static str {
        match self {
            Self::GetManagementToken => "getManagementToken",
            Self::ImportOtp => "importOtp",
            Self::GetOtpSecretByUser => "getOtpSecretByUser",
        }
    }

    /// The operation at `path` (any method).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.path() == path)
    }
}
