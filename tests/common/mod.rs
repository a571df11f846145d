#![allow(dead_code)]
pub mod fuzz;
pub mod model;
pub mod trace;
