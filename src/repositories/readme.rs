//! A repository's README, from Markdown to the HTML its page shows. This is the one place
//! user-written text becomes markup: `pulldown-cmark` renders it, then `ammonia` keeps a
//! fixed set of tags and attributes, so what reaches the page holds no script, no event
//! handler, no style, no frame or form, no `javascript:` (or any non-web) link and no image
//! (a remote image would tell its host who reads the page, and the CSP forbids them anyway).
//! Its output is the only HTML a template marks safe.

use std::collections::HashSet;

/// The README `markdown` as sanitized HTML.
pub fn render(markdown: &str) -> String {
    let options = pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH | pulldown_cmark::Options::ENABLE_TASKLISTS;
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new_ext(markdown, options));
    let tags: HashSet<&str> = [
        "a",
        "p",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "del",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
    ]
    .into_iter()
    .collect();
    ammonia::Builder::default()
        .tags(tags)
        .tag_attributes(
            [("a", ["href"].into_iter().collect()), ("input", ["type", "checked", "disabled"].into_iter().collect()), ("ol", ["start"].into_iter().collect())]
                .into_iter()
                .collect(),
        )
        .generic_attributes(HashSet::new())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("nofollow noopener noreferrer"))
        .clean(&html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_renders_to_its_plain_elements() {
        let html = render("# App\n\nRun **it**:\n\n    docker run app\n\n- [x] done\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com/docs)");
        for expected in [
            "<h1>App</h1>",
            "<strong>it</strong>",
            "<pre><code>docker run app\n</code></pre>",
            "<table>",
            "<td>1</td>",
            r#"<a href="https://example.com/docs" rel="nofollow noopener noreferrer">docs</a>"#,
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
    }

    #[test]
    fn hostile_markdown_keeps_no_script_handler_style_frame_remote_image_or_script_link() {
        let hostile = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "![tracker](https://evil.example/pixel.png)",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[data](data:text/html;base64,PHNjcmlwdD4=)",
            "<a href=\"vbscript:x\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<div style=\"position:fixed\" onclick=\"steal()\">x</div>",
            "<svg onload=alert(1)></svg>",
            "<form action=\"https://evil.example\"><input name=password></form>",
            "<p onmouseover=\"alert(1)\">hover</p>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<a href=\"https://ok.example\" target=\"_blank\" onfocus=\"x()\">ok</a>",
            "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
        ];
        for markdown in hostile {
            let html = render(markdown).to_lowercase();
            for banned in [
                "<script",
                "onerror",
                "onclick",
                "onload",
                "onmouseover",
                "onfocus",
                "javascript:",
                "vbscript:",
                "data:",
                "<img",
                "<iframe",
                "style=",
                "<svg",
                "<form",
                "<style",
                "<object",
                "<embed",
                "<meta",
                "target=",
            ] {
                assert!(!html.contains(banned), "{markdown:?} left {banned:?} in {html:?}");
            }
        }
        // the link that was fine stays, without its handler
        assert!(render("<a href=\"https://ok.example\" onfocus=\"x()\">ok</a>").contains(r#"href="https://ok.example""#));
    }
}
