#![allow(dead_code)]
pub mod fuzz;
pub mod gate;
pub mod leases;
pub mod mixed;
pub mod model;
pub mod properties;
pub mod runtime;
pub mod scenarios;
pub mod stores;
pub mod strategies;
pub mod synth;
pub mod trace;
