//! Any bytes as an EC2 answer → the readers the EC2 client applies
//! (`eice_proxy::ec2::read::answer`: the XML parse with its node limit,
//! instances, VPC blocks, endpoints, the next token, the error document).
//! They never panic nor spin; a refused document says why; and every item
//! read can be checked (`check`, which the client runs before using one)
//! without a panic, and an item that passes has the shapes AWS issues.

#![no_main]

use eice_proxy::ec2::read::answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let read = match answer(data) {
        Ok(read) => read,
        Err(why) => {
            assert!(!why.is_empty());
            return;
        }
    };
    for instance in &read.instances {
        if instance.check().is_ok() {
            assert!(instance.id.starts_with("i-"), "{instance:?}");
        }
    }
    for endpoint in &read.endpoints {
        if endpoint.check("us-east-1").is_ok() {
            assert!(endpoint.id.starts_with("eice-"), "{endpoint:?}");
            assert!(endpoint.dns_name.starts_with(&endpoint.id), "{endpoint:?}");
            assert!(
                endpoint
                    .dns_name
                    .contains(".ec2-instance-connect-endpoint.us-east-1."),
                "{endpoint:?}"
            );
        }
    }
    for (_, vpc) in &read.vpc_blocks {
        assert!(!vpc.is_empty());
    }
    if let Some((code, _, _)) = &read.error {
        assert!(!code.is_empty());
    }
    if let Some(token) = &read.next_token {
        assert!(!token.trim().is_empty());
    }
});
