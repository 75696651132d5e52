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
    /// `GET /api/v3/get-user-batch`.
    GetUserBatch,
}

impl Operation {
    /// All operations.
    pub const ALL: [Self; 4] = [
        Self::GetManagementToken,
        Self::ImportOtp,
        Self::GetOtpSecretByUser,
        Self::GetUserBatch,
    ];

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Self::GetManagementToken | Self::ImportOtp => "POST",
            Self::GetOtpSecretByUser | Self::GetUserBatch => "GET",
        }
    }

    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            Self::GetManagementToken => "/api/v3/get-management-token",
            Self::ImportOtp => "/api/v3/import-otp",
            Self::GetOtpSecretByUser => "/api/v3/get-otp-secret-by-user",
            Self::GetUserBatch => "/api/v3/get-user-batch",
        }
    }

    /// The operationId in the fragment.
    pub fn operation_id(self) -> &'static str {
        match self {
            Self::GetManagementToken => "getManagementToken",
            Self::ImportOtp => "importOtp",
            Self::GetOtpSecretByUser => "getOtpSecretByUser",
            Self::GetUserBatch => "getUserBatch",
        }
    }

    /// The operation at `path` (any method).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.path() == path)
    }
}
