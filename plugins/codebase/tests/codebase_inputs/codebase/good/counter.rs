//! A word counter: the good Rust file of the bad-input corpus.
use std::collections::HashMap;

pub struct Counter {
    counts: HashMap<String, usize>,
}

impl Counter {
    pub fn new() -> Self {
        Counter { counts: HashMap::new() }
    }

    pub fn add(&mut self, word: &str) -> usize {
        let entry = self.counts.entry(word.to_string()).or_insert(0);
        *entry += 1;
        *entry
    }
}
