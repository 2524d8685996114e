//! Security: what a careless or hostile client sends is refused as input
//! (bounded input, bad bytes that only PostgreSQL refuses), secrets a cache
//! could keep, standard JWTs, and `platform:admin` on a tenant token.

mod bounded_input;
mod nul;
mod secrets;
mod tokens;
