//! The HTTP server: actix-server accepts, every connection passes through the
//! connection guard, actix-http speaks HTTP/1.1, the app answers. This is what
//! actix-web's `HttpServer` assembles, except that `HttpServer` hands actix-http
//! the bare socket and so leaves no room for the guard.

use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, apply_fn_factory, fn_factory, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use tokio::net::TcpStream;

use crate::config::HttpLimits;
use crate::connection_errors;
use crate::connection_guard::{Connection, Connections, GuardLimits, GuardedStream};

/// How long a client may take to close its side once the server closes, and
/// how long unread input is read away before a socket is closed.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything about serving HTTP that the settings decide.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    pub limits: HttpLimits,
    pub workers: usize,
    pub shutdown_timeout: Duration,
}

/// Starts serving `listener` with one `app()` per worker.
pub(crate) fn serve<F, I, S, B>(listener: TcpListener, options: ServeOptions, app: F) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Response<BoxBody>> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let ServeOptions { limits, workers, shutdown_timeout } = options;
    let keep_alive = match limits.keep_alive {
        Duration::ZERO => KeepAlive::Disabled,
        idle => KeepAlive::Timeout(idle),
    };
    // actix-server counts connections per worker.
    let per_worker = limits.max_connections.div_ceil(workers);
    let guard = GuardLimits { head_timeout: limits.head_timeout, linger: DISCONNECT_TIMEOUT, max_open: per_worker };
    let local_addr = listener.local_addr()?;
    let builder = Server::build();
    let draining = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        // HttpServer's default.
        .backlog(1024)
        .max_concurrent_connections(per_worker)
        // We handle SIGTERM/SIGINT ourselves, to stop the dispatcher too.
        .disable_signals()
        .shutdown_timeout(shutdown_timeout.as_secs())
        .listen("orders-http", listener, move || {
            let connections = Connections::new(guard);
            let draining = draining.clone();
            // Tells each connection's guard when the app has answered a request.
            let app = apply_fn_factory(app(), |request: Request, app: &S::Service| {
                let connection = request.conn_data::<Rc<Connection>>().cloned();
                let response = app.call(request);
                async move {
                    let response = response.await;
                    if let Some(connection) = connection {
                        connection.answered();
                    }
                    response
                }
            });
            let http = HttpService::build()
                .keep_alive(keep_alive)
                // actix-http times only the first head; the guard times every one.
                .client_request_timeout(limits.head_timeout)
                .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                .local_addr(local_addr)
                // As HttpServer does: on a graceful stop, idle connections close at once.
                .graceful_shutdown_signal(move || {
                    let draining = draining.clone();
                    async move { draining.notified().await }
                })
                .on_connect_ext(|stream: &GuardedStream<TcpStream>, data| {
                    data.insert(stream.connection());
                })
                // Nothing in the app reads AppConfig's host or address.
                .h1(map_config(app, |()| AppConfig::default()));
            fn_factory(move || {
                let http = http.new_service(());
                let connections = connections.clone();
                async move {
                    let http = Rc::new(http.await?);
                    Ok::<_, ()>(fn_service(move |stream: TcpStream| {
                        let (http, connections) = (Rc::clone(&http), connections.clone());
                        async move {
                            let peer = stream.peer_addr().ok();
                            // Boxed: actix-server holds the future it spawns
                            // twice over (rust-lang/rust#62958), so it is
                            // kept small; this saves ~1 KiB per connection.
                            let dispatch = Box::pin(http.call((connections.admit(stream), peer)));
                            if let Err(error) = dispatch.await {
                                connection_errors::report(&error, peer);
                            }
                            Ok::<_, ()>(())
                        }
                    }))
                }
            })
        })?
        .run();
    Ok(server)
}
