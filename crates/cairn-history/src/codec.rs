//! Stored record bytes: a one-byte codec tag, then the record.
//!
//! | tag | body |
//! |---|---|
//! | `0` | the record JSON as indexed |
//! | `1` | raw DEFLATE of the record JSON, primed with the preset dictionary [`DICT_V1`] |
//!
//! CloudTrail records are small (about 1–2 KB) and share most of their keys and many values,
//! so a preset dictionary lets each record compress on its own (random access by `seq`)
//! while still reaching ratios close to whole-file compression. The dictionary is frozen:
//! a new one gets a new tag.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{HistoryError, Result};

/// Codec tag of plain records.
pub(crate) const TAG_PLAIN: u8 = 0;
/// Codec tag of dictionary-primed DEFLATE.
pub(crate) const TAG_DEFLATE_DICT_V1: u8 = 1;
/// Largest record accepted on decode (CloudTrail caps a record at 256 KB; Lake at 1 MB).
const MAX_RECORD: usize = 4 << 20;

/// Preset dictionary, version 1. Strings that occur in most records come last (DEFLATE
/// reaches them with the shortest distances). Written for this crate; do not change.
pub(crate) const DICT_V1: &[u8] = br#"{"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"","bytesTransferredOut":0},"insightDetails":{"state":"Start","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":0},"insight":{"average":0}}}},"serviceEventDetails":{},"errorCode":"AccessDenied","errorMessage":"You are not authorized to perform this operation.","errorCode":"Client.UnauthorizedOperation","ThrottlingException","Rate exceeded","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/","Boto3/1.34 md/Botocore#1.34 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11 cfg/retry-mode#legacy Botocore/1.34","aws-sdk-go-v2/1.24 os/linux lang/go#1.21 md/GOOS#linux md/GOARCH#amd64 api/","APN/1.0 HashiCorp/1.0 Terraform/1.5 (+https://www.terraform.io) terraform-provider-aws/5.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44","Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36","console.amazonaws.com","AWS Internal","eventType":"AwsServiceEvent","eventType":"AwsConsoleSignIn","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},"vpcEndpointId":"vpce-","vpcEndpointAccountId":"","sharedEventID":"","apiVersion":"","sessionCredentialFromConsole":"true","type":"AWS::IAM::Role","type":"AWS::S3::Bucket","type":"AWS::S3::Object","type":"AWS::KMS::Key","type":"AWS::EC2::Instance","arn:aws:kms:us-east-1:","key/","arn:aws:s3:::","arn:aws:ec2:us-east-1:","instance/i-","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-"}]},"filterSet":{},"maxResults":1000,"bucketName":"","Host":"s3.amazonaws.com","roleArn":"arn:aws:iam::","roleSessionName":"","durationSeconds":3600,"userName":"","policyArn":"arn:aws:iam::aws:policy/","keyId":"","encryptionContext":{},"secretId":"","name":"","includeShadowTrails":true},"responseElements":{"credentials":{"accessKeyId":"ASIA","sessionToken":"","expiration":""},"assumedRoleUser":{"assumedRoleId":"AROA","arn":"arn:aws:sts::"}},"responseElements":null,"resources":[{"accountId":"","type":"AWS::IAM::Role","ARN":"arn:aws:iam::"}],"eventSource":"ec2.amazonaws.com","eventSource":"iam.amazonaws.com","eventSource":"s3.amazonaws.com","eventSource":"sts.amazonaws.com","eventSource":"kms.amazonaws.com","eventSource":"ssm.amazonaws.com","eventSource":"secretsmanager.amazonaws.com","eventSource":"signin.amazonaws.com","eventSource":"cloudtrail.amazonaws.com","eventSource":"lambda.amazonaws.com","eventSource":"rds.amazonaws.com","eventSource":"logs.amazonaws.com","eventSource":"monitoring.amazonaws.com","eventName":"Describe","eventName":"List","eventName":"Get","eventName":"AssumeRole","eventName":"ConsoleLogin","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::","accountId":"","userName":""},"webIdFederationData":{},"attributes":{"creationDate":"T00:00:00Z","mfaAuthenticated":"false"}},"invokedBy":"","type":"AssumedRole","principalId":"AROA","arn":"arn:aws:sts::","assumed-role/","type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::","user/","accountId":"","accessKeyId":"AKIA","userName":"","tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":".us-east-1.amazonaws.com"},"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":".amazonaws.com"},"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"","eventCategory":"Management"}{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::","accountId":"","accessKeyId":"AKIA","userName":""},"eventTime":"2025-01-01T00:00:00Z","eventSource":".amazonaws.com","eventName":"","awsRegion":"us-east-1","sourceIPAddress":"","userAgent":"","requestParameters":null,"responseElements":null,"requestID":"","eventID":"","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":""}}"#;

/// Compressor reused across a batch.
pub(crate) struct Encoder {
    deflate: Option<Compress>,
    level: u32,
}

impl Encoder {
    pub(crate) fn new(compress: bool, level: u32) -> Self {
        Self {
            deflate: compress.then(|| Compress::new(Compression::new(level), false)),
            level,
        }
    }

    /// Encode `raw` into `out` (cleared first).
    pub(crate) fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let Some(c) = self.deflate.as_mut() else {
            out.push(TAG_PLAIN);
            out.extend_from_slice(raw);
            return Ok(());
        };
        c.reset();
        c.set_dictionary(DICT_V1)
            .map_err(|e| HistoryError::internal("encode", e))?;
        out.push(TAG_DEFLATE_DICT_V1);
        out.reserve(raw.len() / 2 + 64);
        let mut input = raw;
        loop {
            if out.len() == out.capacity() {
                out.reserve(raw.len() / 2 + 64);
            }
            let before = c.total_in();
            let status = c
                .compress_vec(input, out, FlushCompress::Finish)
                .map_err(|e| HistoryError::internal("encode", e))?;
            let used = usize::try_from(c.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            if status == Status::StreamEnd {
                break;
            }
        }
        // A record that does not shrink is stored plain.
        if out.len() > raw.len() {
            out.clear();
            out.push(TAG_PLAIN);
            out.extend_from_slice(raw);
        }
        debug_assert!(self.level <= 9);
        Ok(())
    }
}

/// Decompressor reused across a page.
pub(crate) struct Decoder {
    inflate: Decompress,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            inflate: Decompress::new(false),
        }
    }

    /// Decode stored bytes into the record JSON.
    pub(crate) fn decode(&mut self, stored: &[u8]) -> Result<Vec<u8>> {
        let corrupt = |why: &str| HistoryError::internal("decode", format!("stored record {why}"));
        let Some((&tag, body)) = stored.split_first() else {
            return Err(corrupt("is empty"));
        };
        match tag {
            TAG_PLAIN => Ok(body.to_vec()),
            TAG_DEFLATE_DICT_V1 => {
                let d = &mut self.inflate;
                d.reset(false);
                d.set_dictionary(DICT_V1)
                    .map_err(|e| HistoryError::internal("decode", e))?;
                let mut out = Vec::with_capacity(body.len() * 4 + 64);
                let mut input = body;
                loop {
                    if out.len() == out.capacity() {
                        if out.len() >= MAX_RECORD {
                            return Err(corrupt("is too large"));
                        }
                        out.reserve(out.len().max(1024));
                    }
                    let before = d.total_in();
                    let status = d
                        .decompress_vec(input, &mut out, FlushDecompress::Finish)
                        .map_err(|e| HistoryError::internal("decode", e))?;
                    let used = usize::try_from(d.total_in() - before).unwrap_or(input.len());
                    input = &input[used.min(input.len())..];
                    match status {
                        Status::StreamEnd => break,
                        Status::BufError if input.is_empty() && out.len() < out.capacity() => {
                            return Err(corrupt("is truncated"));
                        }
                        _ => {}
                    }
                }
                Ok(out)
            }
            _ => Err(corrupt("has an unknown codec")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REC: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"alice"},"eventTime":"2025-03-04T05:12:44Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-2","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"name":"example-trail"},"responseElements":null,"requestID":"0f5e2c6a-0000-4000-8000-000000000001","eventID":"6b0f2a9e-0000-4000-8000-000000000002","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;

    #[test]
    fn dictionary_compression_round_trips_and_shrinks() {
        let mut enc = Encoder::new(true, 6);
        let mut out = Vec::new();
        enc.encode(REC.as_bytes(), &mut out).unwrap();
        assert_eq!(out[0], TAG_DEFLATE_DICT_V1);
        assert!(out.len() * 2 < REC.len(), "{} vs {}", out.len(), REC.len());
        let mut dec = Decoder::new();
        assert_eq!(dec.decode(&out).unwrap(), REC.as_bytes());
        // Reuse of both sides.
        enc.encode(b"{}", &mut out).unwrap();
        assert_eq!(dec.decode(&out).unwrap(), b"{}");
    }

    #[test]
    fn plain_and_corrupt() {
        let mut enc = Encoder::new(false, 6);
        let mut out = Vec::new();
        enc.encode(REC.as_bytes(), &mut out).unwrap();
        assert_eq!(out[0], TAG_PLAIN);
        let mut dec = Decoder::new();
        assert_eq!(dec.decode(&out).unwrap(), REC.as_bytes());
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&[9, 1, 2]).is_err());
        assert!(
            dec.decode(&[TAG_DEFLATE_DICT_V1, 0xff, 0xff, 0xff])
                .is_err()
        );
        let mut good = Vec::new();
        Encoder::new(true, 6)
            .encode(REC.as_bytes(), &mut good)
            .unwrap();
        assert!(dec.decode(&good[..good.len() / 2]).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let mut out = Vec::new();
            Encoder::new(true, 6).encode(&data, &mut out).unwrap();
            prop_assert_eq!(Decoder::new().decode(&out).unwrap(), data);
        }
    }
}
