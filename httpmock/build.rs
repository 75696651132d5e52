//! Generates the typed httpmock stubs from the OpenAPI fragment.
//!
//! Runs progenitor's httpmock generator on `openapi/authing-otp.json` (a copy of the client's
//! fragment, held to it byte for byte by `tests/in_step.rs`, so that the packaged crate builds
//! from what it ships), with the same schema replacements as the client's `build.rs`, so that
//! the stubs take the client's own types. The output is then adjusted:
//!
//! - every generated item gets a doc comment (the crate denies missing docs);
//! - the wrappers' inner `When`/`Then` become `pub(crate)`, for the hand-written helpers;
//! - an array query parameter (`getUserBatch`'s `userIds`) is matched value by value, as the
//!   client sends it (one `userIds=` pair each), rather than with `Vec::to_string`, which does
//!   not exist (progenitor 0.15 assumes `Display`: oxidecomputer/progenitor#1260).
//!
//! The result is formatted with prettyplease and written to `$OUT_DIR/authing_otp_httpmock.rs`,
//! which `src/lib.rs` includes. Nothing here touches the network.

use std::{collections::BTreeMap, env, fs, path::PathBuf};

use quote::quote;
use syn::visit_mut::VisitMut;

const FRAGMENT: &str = "openapi/authing-otp.json";

fn main() {
    println!("cargo:rerun-if-changed={FRAGMENT}");
    println!("cargo:rerun-if-changed=build.rs");

    let text = fs::read_to_string(FRAGMENT).unwrap_or_else(|e| panic!("reading {FRAGMENT}: {e}"));
    let spec: openapiv3::OpenAPI =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {FRAGMENT}: {e}"));

    let mut settings = progenitor::GenerationSettings::new();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    for (schema, replacement) in REPLACED {
        settings.with_replacement(schema, replacement, std::iter::empty());
    }
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .httpmock(&spec, "authing_otp::generated")
        .unwrap_or_else(|e| panic!("generating the stubs from {FRAGMENT}: {e}"));
    let mut file: syn::File = syn::parse2(tokens).expect("progenitor emitted invalid Rust");
    Adjust {
        operations: operations(&spec),
        self_type: String::new(),
    }
    .visit_file_mut(&mut file);
    let code = prettyplease::unparse(&file);

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("authing_otp_httpmock.rs"), code).expect("writing the generated stubs");
}

/// The same replacements as the client's `build.rs`, spelled from outside the client.
const REPLACED: &[(&str, &str)] = &[
    (
        "GetManagementAccessTokenDto",
        "::authing_otp::wire::GetManagementAccessTokenDto",
    ),
    (
        "AccessTokenResDto",
        "::authing_otp::wire::AccessTokenResDto",
    ),
    (
        "ImportOtpItemDataDto",
        "::authing_otp::wire::ImportOtpItemDataDto",
    ),
    ("OtpSecretRespDto", "::authing_otp::wire::OtpSecretRespDto"),
    ("CommonResponseDto", "::authing_otp::envelope::ImportAnswer"),
    ("UserListRespDto", "::authing_otp::envelope::UserListAnswer"),
    (
        "GetOtpSecretRespDto",
        "::authing_otp::envelope::SecretAnswer",
    ),
    (
        "GetManagementTokenRespDto",
        "::authing_otp::envelope::TokenAnswer",
    ),
];

/// One operation of the fragment, as the docs name it.
struct Operation {
    id: String,
    method: String,
    path: String,
}

/// The fragment's operations by the snake-case name progenitor gives their methods.
fn operations(spec: &openapiv3::OpenAPI) -> BTreeMap<String, Operation> {
    let mut found = BTreeMap::new();
    for (path, item) in spec.paths.iter() {
        let item = item.as_item().expect("the fragment has no path references");
        for (method, op) in item.iter() {
            let id = op.operation_id.clone().expect("every operation has an id");
            found.insert(
                snake(&id),
                Operation {
                    id,
                    method: method.to_uppercase(),
                    path: path.clone(),
                },
            );
        }
    }
    found
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_to_snake_type(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

struct Adjust {
    operations: BTreeMap<String, Operation>,
    /// The type of the `impl` being visited.
    self_type: String,
}

impl Adjust {
    /// The operation a `…When`/`…Then` type name belongs to, and which of the two it is.
    fn operation_of(&self, type_name: &str) -> Option<(&Operation, &'static str)> {
        let (stem, side) = if let Some(stem) = type_name.strip_suffix("When") {
            (stem, "When")
        } else {
            (type_name.strip_suffix("Then")?, "Then")
        };
        self.operations
            .get(&camel_to_snake_type(stem))
            .map(|op| (op, side))
    }

    fn describe(op: &Operation) -> String {
        format!("`{}` (`{} {}`)", op.id, op.method, op.path)
    }
}

fn doc(text: &str) -> syn::Attribute {
    syn::parse_quote!(#[doc = #text])
}

fn has_doc(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("doc"))
}

/// The first string literal in a block: the wire name a generated matcher uses.
fn first_literal(block: &syn::Block) -> Option<String> {
    struct Find(Option<String>);
    impl syn::visit::Visit<'_> for Find {
        fn visit_lit_str(&mut self, lit: &syn::LitStr) {
            if self.0.is_none() {
                self.0 = Some(lit.value());
            }
        }
    }
    let mut find = Find(None);
    syn::visit::Visit::visit_block(&mut find, block);
    find.0
}

/// Whether a matcher's value is a `Vec` (an array query parameter).
fn takes_vec(sig: &syn::Signature) -> bool {
    sig.inputs.iter().any(|input| match input {
        syn::FnArg::Typed(arg) => quote!(#arg).to_string().contains("Vec <"),
        syn::FnArg::Receiver(_) => false,
    })
}

fn example(op: &Operation) -> String {
    let method = snake(&op.id);
    format!(
        "\n\n```\nuse authing_otp_httpmock::{{MockServerExt, httpmock::MockServer}};\n\n\
         let server = MockServer::start();\n\
         let mock = server.{method}(|when, then| {{\n    let _ = (when, then);\n}});\n\
         mock.assert_calls(0);\n```"
    )
}

impl VisitMut for Adjust {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        let name = item.ident.to_string();
        if let Some((op, side)) = self.operation_of(&name) {
            let text = match side {
                "When" => format!(
                    "The request matcher of {}: the method and path are matched already; its \
                     methods add the parameters and body the spec declares, \
                     [`into_inner`](Self::into_inner) gives the plain [`httpmock::When`] for \
                     anything else.",
                    Self::describe(op)
                ),
                _ => format!(
                    "The answer of {}: [`ok`](Self::ok) is the spec's success answer, \
                     [`into_inner`](Self::into_inner) gives the plain [`httpmock::Then`] for \
                     anything else.",
                    Self::describe(op)
                ),
            };
            if !has_doc(&item.attrs) {
                item.attrs.push(doc(&(text + &example(op))));
            }
            // For the hand-written helpers in src/.
            for field in item.fields.iter_mut() {
                field.vis = syn::parse_quote!(pub(crate));
            }
        }
        syn::visit_mut::visit_item_struct_mut(self, item);
    }

    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let ty = &item.self_ty;
        self.self_type = quote!(#ty).to_string();
        syn::visit_mut::visit_item_impl_mut(self, item);
        self.self_type.clear();
    }

    fn visit_impl_item_fn_mut(&mut self, item: &mut syn::ImplItemFn) {
        // The trait impl's methods are documented on the trait.
        if self.operation_of(&self.self_type).is_none() {
            return;
        }
        let name = item.sig.ident.to_string();
        let wire = first_literal(&item.block);
        if takes_vec(&item.sig) {
            let wire = wire.clone().expect("a query matcher names its parameter");
            item.block = syn::parse_quote!({
                Self(
                    value
                        .iter()
                        .fold(self.0, |when, value| when.query_param(#wire, value.to_string())),
                )
            });
        }
        let text = match (name.as_str(), wire) {
            ("new", _) if self.self_type.ends_with("When") => "Wraps a plain matcher, adding \
                                                              this operation's method and path."
                .to_owned(),
            ("new", _) => "Wraps a plain answer.".to_owned(),
            ("into_inner", _) => "The plain httpmock value, to deviate from the spec.".to_owned(),
            ("ok", _) => "Answers HTTP 200 with this JSON body (`content-type: \
                          application/json`)."
                .to_owned(),
            ("body", _) => "Matches a JSON body equal to this value.".to_owned(),
            (_, Some(wire)) => format!(
                "Matches the `{wire}` query parameter (for an optional parameter, `None` \
                 matches its absence)."
            ),
            (_, None) => "Generated from the spec.".to_owned(),
        };
        if !has_doc(&item.attrs) {
            item.attrs.push(doc(&text));
        }
    }

    fn visit_item_trait_mut(&mut self, item: &mut syn::ItemTrait) {
        for trait_item in item.items.iter_mut() {
            if let syn::TraitItem::Fn(f) = trait_item {
                let name = f.sig.ident.to_string();
                let op = self
                    .operations
                    .get(&name)
                    .unwrap_or_else(|| panic!("{name} is not an operation of the fragment"));
                if !has_doc(&f.attrs) {
                    let text = format!(
                        "Mocks {}: `config_fn` gets its typed matcher and answer.{}",
                        Self::describe(op),
                        example(op)
                    );
                    f.attrs.push(doc(&text));
                }
            }
        }
    }
}
