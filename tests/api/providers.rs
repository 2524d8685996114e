//! Network layer tests (over real HTTP).
