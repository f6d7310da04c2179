//! `/openapi.json` and `/docs` (Swagger UI, served from the binary).

use std::sync::{Arc, OnceLock};

use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::Config;

use crate::openapi;
use crate::problem::ApiError;

/// `GET /openapi.json`: the OpenAPI 3.1 document, rendered once.
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| serde_json::to_string(&openapi::document()).unwrap_or_default());
    HttpResponse::Ok().content_type("application/json").body(json.as_str())
}

fn swagger_config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG.get_or_init(|| Arc::new(Config::new(["/openapi.json"]))).clone()
}

/// A file of the vendored Swagger UI.
fn swagger_file(name: &str) -> Result<HttpResponse, ApiError> {
    let file = utoipa_swagger_ui::serve(name, swagger_config())
        .map_err(|e| ApiError::Internal(e.to_string().into()))?
        .ok_or(ApiError::RouteNotFound)?;
    let mut response = HttpResponse::Ok();
    response.content_type(file.content_type);
    if file.gzpipped {
        response.insert_header((header::CONTENT_ENCODING, ContentEncoding::Gzip));
    }
    Ok(response.body(file.bytes.into_owned()))
}

/// `GET /docs` (and `/docs/`): Swagger UI's page. Its assets are relative
/// links; `<base>` makes them resolve under `/docs/` whichever way the page
/// was reached, so no redirect is needed.
pub async fn page() -> Result<HttpResponse, ApiError> {
    let file = utoipa_swagger_ui::serve("index.html", swagger_config())
        .map_err(|e| ApiError::Internal(e.to_string().into()))?
        .ok_or(ApiError::RouteNotFound)?;
    let html = String::from_utf8_lossy(&file.bytes).replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1);
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

/// `GET /docs/{file}`: an asset of the page.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    swagger_file(&file)
}
