//! The dashboard is served from the binary: `/` leads to it, every `/ui/...`
//! route answers the app's page with a strict Content-Security-Policy, the
//! hashed bundles are cached for good, and nothing refers outside the origin.

mod common;

use common::{Http, TestServer, pg_url};

#[test]
fn the_dashboard_is_embedded_and_served_with_its_policy() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let get = |path: &str| {
        let mut r = agent
            .get(&format!("{}{path}", server.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (status, ctype, cache, csp, location) = (
            r.status().as_u16(),
            header("content-type"),
            header("cache-control"),
            header("content-security-policy"),
            header("location"),
        );
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (status, ctype, cache, csp, location, body)
    };

    let (s, _, _, _, location, _) = get("/");
    assert_eq!((s, location.as_str()), (303, "/ui/"));

    let (s, ctype, cache, csp, _, page) = get("/ui/projects/lab/studies/sweep");
    assert_eq!(s, 200);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert_eq!(cache, "no-cache");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN: {page}"
    );
    let (s2, _, _, _, _, same) = get("/ui/");
    assert_eq!(
        (s2, same.as_str()),
        (200, page.as_str()),
        "one page for every route"
    );

    // Every bundle the page names is served, typed and cached for good.
    let assets: Vec<&str> = page
        .split('"')
        .filter(|p| p.starts_with("/assets/"))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{page}");
    for a in assets {
        let (s, ctype, cache, _, _, body) = get(a);
        assert_eq!(s, 200, "{a}");
        assert!(!body.is_empty(), "{a}");
        assert!(
            ctype.starts_with("text/javascript") || ctype.starts_with("text/css"),
            "{a}: {ctype}"
        );
        assert_eq!(cache, "public, max-age=31536000, immutable", "{a}");
    }
    let (s, _, _, _, _, body) = get("/assets/no-such-bundle.js");
    assert_eq!(s, 404, "{body}");

    // The API keeps its JSON 404 for unknown paths.
    let http = Http::new(&server.url);
    let (s, e) = http.call("GET", "/api/v1/nope", None, None);
    assert_eq!(s, 404, "{e}");
}
