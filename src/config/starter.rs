//! The starter configurations `nhi init` writes: one provider block of the
//! chosen type and one identity, commented, that `nhi validate` accepts.

/// The provider type of a starter configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Starter {
    /// The file-backed estate: works with no cloud account.
    Local,
    /// AWS IAM users and roles under a path prefix.
    Aws,
    /// The service accounts of one Google Cloud project.
    Gcp,
}

const LOCAL: &str = "\
# A starter configuration: one provider block and one identity. Run
# `nhi validate`, then `nhi plan` to see what it would change.
version: 1

providers:
  - name: demo
    type: local
    # Unmanaged identities in scope are reported; `prune: true` deletes them.
    prune: false
    settings:
      # The estate file, relative to this file; created on the first apply.
      state: estate.json

# Teams can keep their identities in files of their own (CODEOWNERS):
# include: [nhi.d/*.yaml]

identities:
  - name: ci-deployer
    provider: demo
    owner: platform-team@example.com
    description: Deploys from CI
    keys:
      - name: primary
        rotate_after: 90d
        sink:
          file: secrets/ci-deployer-primary.key
    bindings:
      - role: deployer
        resource: project/web
";

const AWS: &str = "\
# A starter configuration: one AWS account's IAM users and roles under the
# path /nhi/, and one CI user. Credentials come from the standard chain
# (AWS_PROFILE, environment, SSO, instance roles). Run `nhi validate`, then
# `nhi plan` to see what it would change.
version: 1

providers:
  - name: prod
    type: aws
    # Unmanaged users and roles under the path are reported; `prune: true`
    # deletes them.
    prune: false
    settings:
      path_prefix: /nhi/
      region: us-east-1

# Teams can keep their identities in files of their own (CODEOWNERS):
# include: [nhi.d/*.yaml]

identities:
  - name: ci-deployer
    provider: prod
    kind: user
    owner: platform-team@example.com
    description: Deploys from CI
    keys:
      - name: primary
        rotate_after: 90d
        sink:
          aws_secrets_manager:
            secret_id: nhi/ci-deployer/primary
    bindings:
      - role: arn:aws:iam::aws:policy/ReadOnlyAccess
";

const GCP: &str = "\
# A starter configuration: the service accounts of one Google Cloud project,
# and one CI account. Credentials are application default credentials. Set
# your project id, run `nhi validate`, then `nhi plan` to see what it would
# change.
version: 1

providers:
  - name: prod
    type: gcp
    # Unmanaged service accounts of the project are reported; `prune: true`
    # deletes them.
    prune: false
    settings:
      project: my-project-id

# Teams can keep their identities in files of their own (CODEOWNERS):
# include: [nhi.d/*.yaml]

identities:
  - name: ci-deployer
    provider: prod
    owner: platform-team@example.com
    description: Deploys from CI
    keys:
      - name: primary
        rotate_after: 90d
        sink:
          file: secrets/ci-deployer.json
    bindings:
      - role: roles/run.developer
";

impl Starter {
    /// The provider type name, e.g. `aws`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Aws => "aws",
            Self::Gcp => "gcp",
        }
    }

    /// The starter file, its first line `# yaml-language-server: $schema=<schema>`
    /// so that editors complete and check it.
    pub fn text(self, schema: &str) -> String {
        let body = match self {
            Self::Local => LOCAL,
            Self::Aws => AWS,
            Self::Gcp => GCP,
        };
        format!("# yaml-language-server: $schema={schema}\n{body}")
    }
}

/// Where the JSON Schema of this release is published: the repository's copy
/// at this version's tag.
pub fn schema_url() -> String {
    format!(
        "{}/raw/v{}/schemas/nhi.schema.json",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_starter_validates() {
        for starter in [Starter::Local, Starter::Aws, Starter::Gcp] {
            let text = starter.text("schemas/nhi.schema.json");
            let config = crate::config::parse(std::path::Path::new("nhi.yaml"), &text)
                .unwrap_or_else(|e| panic!("{starter:?}: {e:?}"));
            assert_eq!(config.providers[0].type_name, starter.type_name());
            assert_eq!(config.identities.len(), 1, "{starter:?}");
            assert!(text.starts_with("# yaml-language-server: $schema=schemas/nhi.schema.json\n"));
        }
    }
}
