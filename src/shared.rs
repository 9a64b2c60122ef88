//! `Shared<T>`: a value read on every request and replaced whole, rarely (the hub in service,
//! the lookup data files, the dispatcher's catalog). It sits at the bottom of the layers and
//! imports nothing of the crate, so the modules that read such a value (`lookup`, `handoff`)
//! need not import the one that replaces it (`reload`).

use std::sync::{Arc, RwLock};

/// A value read on every request and replaced whole, rarely: readers take a cheap clone of
/// the `Arc` under an uncontended read lock and never see a half-made value.
pub struct Shared<T>(RwLock<Arc<T>>);

impl<T> Shared<T> {
    pub fn new(value: Arc<T>) -> Shared<T> {
        Shared(RwLock::new(value))
    }

    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Shared<T> {
        Shared::new(Arc::new(T::default()))
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared(..)")
    }
}
