//! Object stores of lakes: the S3 client built from the standard `AWS_*` environment and
//! flowlake's flags, with bounded retries and timeouts, registered once per bucket. This
//! is the one place that registers stores with DataFusion. Without keys, credentials come
//! from the standard AWS chain ([`super::credentials`]).

use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use super::counting::{CountingStore, RequestCounts};
use super::credentials::StandardChain;
use crate::error::{Error, Result};

/// An access key pair given in code rather than the environment (embedding, tests).
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// S3 settings that override the `AWS_*` environment variables.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Keys to use instead of the environment's (the CLI takes keys only from the
    /// environment, so that they never appear in process listings).
    pub credentials: Option<S3Credentials>,
    /// Endpoint URL of an S3-compatible store (default: AWS, from the region).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow a plain `http://` endpoint.
    pub allow_http: bool,
    /// `https://bucket.endpoint/key` rather than `https://endpoint/bucket/key`.
    pub virtual_hosted_style: bool,
    /// Retries of a failed request (with exponential backoff from 100 ms, at most 2 s apart).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request.
    pub request_timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            credentials: None,
            endpoint: None,
            region: None,
            allow_http: false,
            virtual_hosted_style: false,
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The S3 client of `bucket`: the environment, then `options` on top, wrapped to count
/// its requests. Without keys, the standard AWS chain must find credentials now, or this is
/// a 400 that says what was tried. Refuses configurations that could only fail obscurely later.
pub async fn s3_store(
    bucket: &str,
    options: &S3Options,
) -> Result<(Arc<dyn ObjectStore>, Arc<RequestCounts>, String)> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some(keys) = &options.credentials {
        builder = builder
            .with_access_key_id(&keys.access_key_id)
            .with_secret_access_key(&keys.secret_access_key);
    }
    if options.allow_http {
        builder = builder.with_allow_http(true);
    }
    if options.virtual_hosted_style {
        builder = builder.with_virtual_hosted_style_request(true);
    }
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allow_http = builder
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(endpoint) = &endpoint
        && endpoint.to_ascii_lowercase().starts_with("http://")
        && !allow_http
    {
        return Err(Error::bad_request(format!(
            "the S3 endpoint {endpoint} is plain http: pass --s3-allow-http (or set AWS_ALLOW_HTTP=true) to use it"
        )));
    }
    if !has_keys_or_skips_signing(&builder) {
        let given = builder.get_config_value(&AmazonS3ConfigKey::Region);
        let chain = StandardChain::new(given.as_deref()).await;
        chain
            .credentials()
            .await
            .map_err(|cause| no_credentials(bucket, &cause))?;
        if given.is_none()
            && let Some(region) = chain.region().await
        {
            builder = builder.with_region(region);
        }
        builder = builder.with_credentials(Arc::new(chain));
    }
    let client = |key: ClientConfigKey, value: Duration| {
        (
            AmazonS3ConfigKey::Client(key),
            format!("{}ms", value.as_millis()),
        )
    };
    for (key, value) in [
        client(ClientConfigKey::ConnectTimeout, options.connect_timeout),
        client(ClientConfigKey::Timeout, options.request_timeout),
    ] {
        if builder.get_config_value(&key).is_none() {
            builder = builder.with_config(key, value);
        }
    }
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: options.max_retries,
        retry_timeout: options.retry_timeout,
    };
    let store = builder
        .with_retry(retry)
        .build()
        .map_err(|e| Error::bad_request(format!("S3 configuration for bucket '{bucket}': {e}")))?;
    let described = format!(
        "s3://{bucket} at {}",
        endpoint.unwrap_or_else(|| "AWS S3".to_string())
    );
    let (counting, counts) = CountingStore::new(Arc::new(store));
    Ok((Arc::new(counting), counts, described))
}

/// Registers the S3 client of `bucket` with DataFusion (the engine calls this once per
/// bucket). Returns its request counts and a description that names the endpoint.
pub async fn register_s3(
    runtime: &RuntimeEnv,
    bucket: &str,
    options: &S3Options,
) -> Result<(Arc<RequestCounts>, String)> {
    let url = bucket_url(bucket)?;
    let (store, counts, described) = s3_store(bucket, options).await?;
    runtime.register_object_store(url.as_ref(), store);
    Ok((counts, described))
}

/// The DataFusion URL of a bucket's store.
pub fn bucket_url(bucket: &str) -> Result<ObjectStoreUrl> {
    ObjectStoreUrl::parse(format!("s3://{bucket}"))
        .map_err(|e| Error::bad_request(format!("bucket name '{bucket}': {e}")))
}

/// Whether object_store signs with keys (given, or `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`) or not at all (`AWS_SKIP_SIGNATURE=true`, a public bucket).
fn has_keys_or_skips_signing(builder: &AmazonS3Builder) -> bool {
    let set = |key: AmazonS3ConfigKey| {
        builder
            .get_config_value(&key)
            .is_some_and(|v| !v.is_empty())
    };
    let skip_signature = builder
        .get_config_value(&AmazonS3ConfigKey::SkipSignature)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    skip_signature || set(AmazonS3ConfigKey::AccessKeyId)
}

fn no_credentials(bucket: &str, cause: &str) -> Error {
    Error::bad_request(format!(
        "no S3 credentials for bucket '{bucket}': {}. flowlake looks for them as the AWS CLI does: \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the profile AWS_PROFILE (or 'default') of \
         ~/.aws/config and ~/.aws/credentials (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), web \
         identity, container credentials, then the EC2 instance metadata service; \
         AWS_SKIP_SIGNATURE=true reads a public bucket",
        cause.trim_end_matches('.')
    ))
}
