//! S3 credentials found as every AWS tool finds them, when none are given as keys: the
//! standard chain of `aws-config` — the profile (`AWS_PROFILE`, `~/.aws/config` and
//! `~/.aws/credentials` or `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`, with SSO,
//! `credential_process` and assumed roles), web identity, container credentials, then the
//! EC2 instance metadata service (IMDSv2) with short timeouts so that a machine without one
//! fails fast. Credentials are cached until shortly before they expire.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use tokio::sync::Mutex;

/// How long a metadata-service connection or answer may take, and its attempts: off EC2
/// the chain gives up within a few seconds.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IMDS_READ_TIMEOUT: Duration = Duration::from_secs(1);
const IMDS_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
const IMDS_ATTEMPTS: u32 = 2;

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The standard AWS credential chain as object_store's credential provider: the providers
/// of `aws-config`'s default chain, in its order, with the instance metadata service last
/// and kept apart so that its region is asked only when its credentials are used.
pub struct StandardChain {
    /// Environment keys, profile, web identity, container.
    first: CredentialsProviderChain,
    instance: ImdsCredentialsProvider,
    imds: aws_config::imds::Client,
    config: ProviderConfig,
    /// A flag, `AWS_REGION` or the profile's.
    region: Option<Region>,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    credential: Arc<AwsCredential>,
    expiry: Option<SystemTime>,
    from_instance: bool,
}

impl std::fmt::Debug for StandardChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardChain")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The chain's configuration: the process environment and files, and an HTTPS client on
/// rustls with ring (no aws-lc).
fn provider_config() -> ProviderConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    ProviderConfig::default()
        .with_http_client(http)
        .with_behavior_version(Some(BehaviorVersion::latest()))
}

impl StandardChain {
    /// The chain; `region` (a flag or `AWS_REGION`), else the selected profile's, is the
    /// region of the providers that call STS.
    pub async fn new(region: Option<&str>) -> StandardChain {
        let config = provider_config();
        let region = match region {
            Some(region) => Some(Region::new(region.to_string())),
            None => {
                ProfileFileRegionProvider::builder()
                    .configure(&config)
                    .build()
                    .region()
                    .await
            }
        };
        let config = config.with_region(region.clone());
        let imds = aws_config::imds::Client::builder()
            .configure(&config)
            .connect_timeout(IMDS_CONNECT_TIMEOUT)
            .read_timeout(IMDS_READ_TIMEOUT)
            .operation_timeout(IMDS_OPERATION_TIMEOUT)
            .max_attempts(IMDS_ATTEMPTS)
            .build();
        let first = CredentialsProviderChain::first_try(
            "Environment",
            EnvironmentVariableCredentialsProvider::new(),
        )
        .or_else(
            "Profile",
            ProfileFileCredentialsProvider::builder()
                .configure(&config)
                .build(),
        )
        .or_else(
            "WebIdentityToken",
            WebIdentityTokenCredentialsProvider::builder()
                .configure(&config)
                .build(),
        )
        .or_else(
            "EcsContainer",
            EcsCredentialsProvider::builder().configure(&config).build(),
        );
        let instance = ImdsCredentialsProvider::builder()
            .configure(&config)
            .imds_client(imds.clone())
            .build();
        StandardChain {
            first,
            instance,
            imds,
            config,
            region,
            cached: Mutex::new(None),
        }
    }

    /// The region to sign with where none was given: the profile's, else, when the
    /// credentials are the instance's, the instance's region.
    pub async fn region(&self) -> Option<String> {
        if let Some(region) = &self.region {
            return Some(region.to_string());
        }
        let from_instance = self
            .cached
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.from_instance);
        if !from_instance {
            return None;
        }
        let provider = ImdsRegionProvider::builder()
            .configure(&self.config)
            .imds_client(self.imds.clone())
            .build();
        provider.region().await.map(|region| region.to_string())
    }

    /// Current credentials: the cached ones, or fetched from the chain. The error says why
    /// the last source tried failed, with its causes.
    pub async fn credentials(&self) -> Result<Arc<AwsCredential>, String> {
        let mut cached = self.cached.lock().await;
        if let Some(known) = cached.as_ref()
            && known
                .expiry
                .is_none_or(|at| SystemTime::now() + REFRESH_BEFORE_EXPIRY < at)
        {
            return Ok(Arc::clone(&known.credential));
        }
        let (found, from_instance) = match self.first.provide_credentials().await {
            Err(CredentialsError::CredentialsNotLoaded(_)) => {
                (self.instance.provide_credentials().await, true)
            }
            other => (other, false),
        };
        let found = found.map_err(|e| with_causes(&e))?;
        let credential = Arc::new(AwsCredential {
            key_id: found.access_key_id().to_string(),
            secret_key: found.secret_access_key().to_string(),
            token: found.session_token().map(str::to_string),
        });
        *cached = Some(Cached {
            credential: Arc::clone(&credential),
            expiry: found.expiry(),
            from_instance,
        });
        Ok(credential)
    }
}

#[async_trait]
impl CredentialProvider for StandardChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.credentials()
            .await
            .map_err(|message| object_store::Error::Generic {
                store: "S3",
                source: message.into(),
            })
    }
}

/// An error and its sources, joined: the chain's top-level message alone rarely says why.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
