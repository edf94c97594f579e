//! Reading EC2 Query API documents: the few element paths the proxy needs,
//! by local name (AWS puts every element in the API's namespace).

use roxmltree::{Document, Node, ParsingOptions};

/// The most XML nodes (elements and texts, the whitespace between elements
/// included) an answer may have: 2 Mi.
///
/// The largest page the proxy reads is `DescribeInstances`' (at most 1000
/// items with `MaxResults`). Counted on EC2's layout, an ordinary instance
/// is 312 nodes and one with fifty tags 600, so such a page is 0.3 to 0.6
/// Mi nodes, and EC2 writes at least 16 bytes a node (19 to 45 measured):
/// the limit binds only on a document denser than EC2's. A parsed node
/// costs about 75 bytes (a million empty elements peaked at 78 MiB), so the
/// tree stays near 150 MiB, where the bytes [`super::MAX_ANSWER`] allows,
/// as empty elements of 4 bytes each, would make 8 Mi nodes.
pub const MAX_NODES: u32 = 2 << 20;

/// How every answer is parsed: with the node limit (and roxmltree's
/// defaults otherwise: no DTD).
fn options<'input>() -> ParsingOptions<'input> {
    ParsingOptions {
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    }
}

/// A parsed answer. The text is kept so that nodes can borrow from it.
pub(super) fn parse(text: &str) -> Result<Document<'_>, String> {
    Document::parse_with_options(text, options()).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => format!(
            "EC2 sent an answer of more than {MAX_NODES} XML nodes, more than any page of \
             a Describe call: refused"
        ),
        e => format!("EC2 sent a document that is not XML: {e}"),
    })
}

/// The first child element of `node` named `name`.
pub(super) fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The element at `path` (names separated by `/`) below `node`.
pub(super) fn at<'a, 'i>(node: Node<'a, 'i>, path: &str) -> Option<Node<'a, 'i>> {
    path.split('/').try_fold(node, |n, name| child(n, name))
}

/// The text at `path`, when present and not empty.
pub(super) fn text<'a>(node: Node<'a, '_>, path: &str) -> Option<&'a str> {
    at(node, path)
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The `item`s of the list at `path`: EC2's way of writing every array.
pub(super) fn items<'a, 'i>(node: Node<'a, 'i>, path: &str) -> impl Iterator<Item = Node<'a, 'i>> {
    at(node, path)
        .into_iter()
        .flat_map(|list| list.children())
        .filter(|n| n.is_element() && n.tag_name().name() == "item")
}

/// The texts of a list of plain values (`<securityGroupIdSet><item>sg-…</item>…`).
pub(super) fn texts<'a>(node: Node<'a, '_>, path: &str) -> Vec<String> {
    items(node, path)
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// What an error document says: `<Response><Errors><Error><Code>…`,
/// `<Message>…`, and `<RequestID>` (EC2 spells it so in errors, and
/// `requestId` in answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ErrorDocument {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// The error of a failed call, if `body` is EC2's error document.
pub(super) fn error_document(body: &str) -> Option<ErrorDocument> {
    let doc = Document::parse_with_options(body, options()).ok()?;
    let root = doc.root_element();
    let error = at(root, "Errors/Error")?;
    Some(ErrorDocument {
        code: text(error, "Code")?.to_owned(),
        message: text(error, "Message").unwrap_or_default().to_owned(),
        request_id: text(root, "RequestID")
            .or_else(|| text(root, "RequestId"))
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_document_gives_code_message_and_request_id() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                    <Code>InvalidInstanceID.NotFound</Code>\
                    <Message>The instance ID 'i-1' does not exist</Message></Error></Errors>\
                    <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>";
        let e = error_document(body).unwrap();
        assert_eq!(e.code, "InvalidInstanceID.NotFound");
        assert_eq!(e.message, "The instance ID 'i-1' does not exist");
        assert_eq!(
            e.request_id.as_deref(),
            Some("ea966190-f9aa-478e-9ede-example")
        );
        assert_eq!(error_document("<html>Bad gateway</html>"), None);
        assert_eq!(error_document("not xml"), None);
    }

    #[test]
    fn paths_lists_and_texts_ignore_the_namespace() {
        let body = r#"<DescribeThingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
            <requestId>r-1</requestId>
            <thingSet>
                <item><id>a</id><ids><item>x</item><item> y </item><item/></ids></item>
                <item><id>b</id><state><name>running</name></state></item>
            </thingSet>
        </DescribeThingsResponse>"#;
        let doc = parse(body).unwrap();
        let root = doc.root_element();
        assert_eq!(text(root, "requestId"), Some("r-1"));
        let things: Vec<_> = items(root, "thingSet").collect();
        assert_eq!(things.len(), 2);
        assert_eq!(texts(things[0], "ids"), ["x", "y"]);
        assert_eq!(text(things[1], "state/name"), Some("running"));
        assert_eq!(text(things[0], "state/name"), None);
        assert_eq!(items(root, "missing").count(), 0);
    }
}
