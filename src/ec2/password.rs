//! `ec2:GetPasswordData`: a Windows instance's Administrator password as EC2
//! keeps it, encrypted to the instance's launch key pair (only the holder of
//! that key's `.pem` can read it; [`crate::launch_key`] does).

use super::{AwsError, Ec2, xml};

impl Ec2 {
    /// The encrypted password of instance `id` (base64, whitespace removed),
    /// or `None` while there is none: EC2 answers an empty one until Windows
    /// has generated its password, and for an instance that is no Windows.
    pub async fn password_data(&self, id: &str) -> Result<Option<String>, AwsError> {
        const ACTION: &str = "GetPasswordData";
        let params = vec![("InstanceId".to_owned(), id.to_owned())];
        let answer = self.query.call(ACTION, &params).await?;
        let doc = xml::parse(&answer).map_err(|message| self.query.bad_answer(ACTION, message))?;
        // EC2 wraps the base64 over lines.
        let data: String = xml::text(doc.root_element(), "passwordData")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        Ok(Some(data).filter(|d| !d.is_empty()))
    }
}
