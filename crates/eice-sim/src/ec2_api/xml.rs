//! A small XML writer for EC2's response documents.
//!
//! EC2 responses are plain nested elements with text leaves and no attributes (bar
//! the root's namespace), so a closure per element is all the structure needed;
//! every text leaf is escaped here, once, so no world value (a tag containing `<`
//! or `&`) can break a document.

use std::borrow::Cow;
use std::fmt::Display;

/// The namespace of every EC2 Query API response.
pub(super) const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The XML declaration EC2 opens its documents with.
pub(super) const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A document under construction.
#[derive(Debug, Default)]
pub(super) struct Xml {
    out: String,
}

impl Xml {
    /// An empty fragment.
    pub(super) fn new() -> Self {
        Xml::default()
    }

    /// `<name>text</name>`, with the text escaped.
    pub(super) fn leaf(&mut self, name: &str, text: impl Display) -> &mut Self {
        self.open(name);
        self.out.push_str(&escape(&text.to_string()));
        self.close(name);
        self
    }

    /// A leaf only when there is a value: EC2 omits absent fields.
    pub(super) fn leaf_opt(&mut self, name: &str, text: Option<impl Display>) -> &mut Self {
        if let Some(text) = text {
            self.leaf(name, text);
        }
        self
    }

    /// `<name>…</name>` with the children `body` writes.
    pub(super) fn node(&mut self, name: &str, body: impl FnOnce(&mut Xml)) -> &mut Self {
        self.open(name);
        body(self);
        self.close(name);
        self
    }

    /// EC2's list shape: `<name><item>…</item>…</name>`, one `item` per element.
    pub(super) fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        self.node(name, |x| {
            for item in items {
                x.node("item", |x| each(x, item));
            }
        })
    }

    /// A list of plain strings: `<name><item>text</item>…</name>`.
    pub(super) fn text_list<T: Display>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        self.node(name, |x| {
            for item in items {
                x.leaf("item", item);
            }
        })
    }

    /// The text written so far.
    pub(super) fn finish(self) -> String {
        self.out
    }

    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// Escapes the five characters XML reserves.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['<', '>', '&', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A whole success document: `<{Action}Response xmlns=…><requestId>…` and the body.
pub(super) fn response(action: &str, request_id: &str, body: &str) -> String {
    format!(
        "{DECLARATION}\n<{action}Response xmlns=\"{EC2_NAMESPACE}\"><requestId>{}</requestId>{body}</{action}Response>",
        escape(request_id)
    )
}

/// A whole error document, EC2's `<Response><Errors><Error>` shape.
pub(super) fn error_response(code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.node("Response", |x| {
        x.node("Errors", |x| {
            x.node("Error", |x| {
                x.leaf("Code", code).leaf("Message", message);
            });
        })
        .leaf("RequestID", request_id);
    });
    format!("{DECLARATION}\n{}", x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_lists_use_items() {
        let mut x = Xml::new();
        x.leaf("value", "a<b & 'c'")
            .text_list("ids", ["x", "y"])
            .leaf_opt("absent", None::<&str>);
        assert_eq!(
            x.finish(),
            "<value>a&lt;b &amp; &apos;c&apos;</value><ids><item>x</item><item>y</item></ids>"
        );
    }

    #[test]
    fn error_documents_have_ec2_shape() {
        let doc = error_response("Bad&Code", "no <way>", "req-1");
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>Bad&amp;Code</Code>\
             <Message>no &lt;way&gt;</Message></Error></Errors><RequestID>req-1</RequestID></Response>"
        );
    }
}
