//! The provider types this build knows, by their `type:` name.

use nhi_provider_sdk::ProviderType;

static LOCAL: nhi_provider_local::LocalType = nhi_provider_local::LocalType;
static AWS: nhi_provider_aws::AwsType = nhi_provider_aws::AwsType;
static GCP: nhi_provider_gcp::GcpType = nhi_provider_gcp::GcpType;

/// Every provider type, in the order `--help` and errors list them.
pub(crate) fn all() -> [&'static dyn ProviderType; 3] {
    [&LOCAL, &AWS, &GCP]
}

/// The provider type named `name`, if this build has it.
pub(crate) fn find(name: &str) -> Option<&'static dyn ProviderType> {
    all().into_iter().find(|t| t.type_name() == name)
}

/// Names of all provider types, for error messages.
pub(crate) fn names() -> Vec<&'static str> {
    all().iter().map(|t| t.type_name()).collect()
}
