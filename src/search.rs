//! Search over the service catalogue: how typed words are folded, the index built once from the
//! services' names and keywords, and the ranked matches of a query typed on a keypad.
//!
//! The index is pure (no IO, no clock) and imports nothing of the crate: the catalogue loader
//! feeds it with [`Builder::add`] and the engine asks it with [`Index::search`].
//!
//! # Matching rules
//!
//! - Text is folded by [`words`]: lowercase ASCII, common Latin accents removed, apostrophes
//!   dropped inside words (so Swahili `ng'ombe` is `ngombe`), any other character separates
//!   words. Digits are letters of words, so a service code added as a keyword is searchable.
//! - Stop words of both languages ([`STOP_WORDS`]) are ignored in a query unless the query has
//!   nothing else, so `leseni ya udereva` finds "Leseni ya Udereva" and "Driving licence".
//! - Every remaining query word must match a document (AND). Per word a document counts its
//!   best match, and the score of a document is the sum over the query words:
//!   exact word of a name ([`SCORE_NAME`]) > exact keyword ([`SCORE_KEYWORD`]) > prefix of a
//!   word, for query words of 3+ letters ([`SCORE_PREFIX`]) > one typo ([`SCORE_FUZZY`]). A
//!   prefix or typo match in a name gets [`NAME_BONUS`] over one in a keyword, which never
//!   lifts it into the next tier.
//! - One typo (Damerau: insert, delete, substitute or transpose two adjacent letters) is
//!   tolerated on query words of 5+ letters, against whole words and against the prefixes of
//!   longer words of 5+ letters (so `lesrn` finds `leseni`, a prefix of it being `lesen`).
//! - Ranking: score, then the caller's popularity (higher first), then document id.
//!
//! # Layout and cost
//!
//! The vocabulary is one sorted byte string, so the words starting with a prefix are one
//! contiguous range of word ids found by two binary searches, each within the run of words
//! sharing the prefix's first two letters (a directory of 37 x 37 starts). Each word has a
//! posting list: the sorted ids of the documents holding it, with the top bit set when the word
//! is in a name. Typos are found with a symmetric-deletion map (SymSpell) over the
//! vocabulary's prefixes: every prefix of 5+ letters (and every whole word of 4) is stored
//! under its own hash and the hashes of its one-letter deletions, so the query's own deletions
//! find every prefix within one edit in a handful of lookups (the sorted hashes are bucketed by
//! their top bits, about two a bucket), and a cheap exact check removes the false candidates.
//! Because prefixes of a sorted vocabulary are word ranges, a typo match of a prefix costs no
//! more than a prefix match.
//!
//! Most words typed are whole words of the vocabulary, so what such a word needs is worked out
//! once per word when the index is built: a hash table finds its id, and beside the id are its
//! range of words (itself and those it begins) and the word ranges one typo away. A whole word
//! typed costs a hash and a few cache lines; only a prefix or a misspelling is searched for in
//! the vocabulary and the deletion map. Most such words have one posting list and nothing a
//! typo away: while every query word so far is such a word, the candidates are a posting list's documents in order,
//! and the next word's list is galloped through beside them. A word matching several lists (a
//! short prefix matches hundreds) marks documents in a per-thread array of `docs` stamps (one
//! `u32` each), so its postings merge in one pass without sorting and nothing is cleared
//! between searches; the candidates live in the caller's `out`. The module's tests hold the
//! index to a slow reading of the rules above, word by word and document by document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::thread::LocalKey;

/// Score of a query word found as a whole word of a document's name.
pub const SCORE_NAME: u32 = 8;
/// Score of a query word found as a whole keyword.
pub const SCORE_KEYWORD: u32 = 6;
/// Score of a query word (3+ letters) that begins a longer word.
pub const SCORE_PREFIX: u32 = 4;
/// Score of a query word (5+ letters) one typo away from a word or the beginning of one.
pub const SCORE_FUZZY: u32 = 2;
/// Added to a prefix or typo match when the word is in a name: a service whose name starts
/// with what was typed ranks above one that has it among its keywords, and the tiers stay
/// apart because every tier is two above the next.
pub const NAME_BONUS: u32 = 1;

/// Longest word kept, in folded letters: a longer one is cut to its first `MAX_WORD` letters,
/// the same way in the index, in queries and in [`words`], so it still finds itself. Bounding
/// it keeps query folding on the stack.
pub const MAX_WORD: usize = 48;

/// Query words considered: a feature phone's search box holds a few words, and bounding them
/// bounds a search's work whatever arrives. Words past this many are ignored.
pub const MAX_QUERY_WORDS: usize = 8;

/// Shortest query word that matches as the prefix of a longer word; shorter ones (`ka`, `id`)
/// match whole words only, because as prefixes they would match a large part of the
/// vocabulary and say little about what is wanted.
const MIN_PREFIX: usize = 3;
/// Shortest query word tolerated one typo: on shorter words one edit reaches too many others.
const MIN_FUZZY: usize = 5;
/// Longest query word tolerated one typo; the deletion map stores prefixes up to one letter
/// longer. Government-service words are far shorter, and the bound keeps the map small.
const MAX_FUZZY: usize = 24;

/// Largest number of documents: ids at or above it are ignored by [`Builder::add`], because a
/// search keeps one stamp per document id and a stray huge id would make that array huge.
pub const MAX_DOCS: u32 = 1 << 24;

/// The posting bit saying the word is in the document's name (document ids stay below 2^24).
const NAME_BIT: u32 = 1 << 31;

/// Words ignored in a query unless it has nothing else: the connecting words of Swahili
/// service names (`ya`, `wa`, `cha`, ...) and of English ones (`of`, `for`, ...), which every
/// other name also has and which a citizen types out of habit.
pub const STOP_WORDS: &[&str] = &[
    // Swahili.
    "ya", "wa", "la", "za", "cha", "vya", "kwa", "na", "ni", "katika", "au", "pa", "mwa", "kwenye", "yangu", "changu",
    // English.
    "the", "of", "and", "for", "to", "a", "an", "my", "in", "on", "at", "by", "or", "with", "your", "is",
];

/// Which part of a service a text describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The service's name, in any locale: its words rank highest.
    Name,
    /// Keywords, agency names, service codes: found, but below name words.
    Keyword,
}

/// Collects the words of every document, then builds the [`Index`].
#[derive(Debug, Default)]
pub struct Builder {
    /// Folded word -> postings (document id, with [`NAME_BIT`] for a name), unsorted.
    words: HashMap<Box<[u8]>, Vec<u32>>,
    docs: u32,
}

impl Builder {
    /// Adds the words of `text` (any locale, any case/accents/punctuation) to document `doc`
    /// (dense ids 0..n, below [`MAX_DOCS`]; a larger id is ignored). Call it once per name
    /// and keyword text; adding a word twice to a document is harmless.
    pub fn add(&mut self, doc: u32, field: Field, text: &str) {
        if doc >= MAX_DOCS {
            return;
        }
        self.docs = self.docs.max(doc + 1);
        let posting = match field {
            Field::Name => doc | NAME_BIT,
            Field::Keyword => doc,
        };
        scan(text, |w| {
            match self.words.get_mut(w) {
                Some(list) => list.push(posting),
                None => {
                    self.words.insert(w.into(), vec![posting]);
                }
            }
            true
        });
    }

    /// The index of everything added.
    pub fn build(self) -> Index {
        let mut entries: Vec<(Box<[u8]>, Vec<u32>)> = self.words.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut text = Vec::with_capacity(entries.iter().map(|e| e.0.len()).sum());
        let mut starts = Vec::with_capacity(entries.len() + 1);
        let mut postings = Vec::with_capacity(entries.iter().map(|e| e.1.len()).sum());
        let mut post_starts = Vec::with_capacity(entries.len() + 1);
        starts.push(0);
        post_starts.push(0);
        for (word, mut list) in entries {
            text.extend_from_slice(&word);
            starts.push(text.len() as u32);
            // One posting per document, sorted by id, holding the name bit if any of its
            // occurrences was in a name: a search then takes each document once per word.
            list.sort_unstable_by_key(|p| p & !NAME_BIT);
            let mut last = None;
            for p in list {
                let doc = p & !NAME_BIT;
                match postings.last_mut() {
                    Some(prev) if last == Some(doc) => *prev |= p & NAME_BIT,
                    _ => postings.push(p),
                }
                last = Some(doc);
            }
            post_starts.push(postings.len() as u32);
        }
        let (prefixes, del_keys, del_prefix) = deletion_map(&text, &starts);
        let words_by_start = word_directory(&text, &starts);
        let (del_buckets, del_bits) = buckets(&del_keys);
        let mut index = Index {
            docs: self.docs,
            text,
            starts,
            post_starts,
            postings,
            prefixes,
            del_keys,
            del_prefix,
            words_by_start,
            del_buckets,
            del_bits,
            word_slots: Vec::new(),
            word_hi: Vec::new(),
            typo_starts: Vec::new(),
            typos: Vec::new(),
        };
        index.learn_words();
        index.shrink();
        index
    }
}

/// A prefix of the vocabulary for typo matching: its letters are the first `len` of word `lo`,
/// and the words `lo..hi` are those it begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Prefix {
    lo: u32,
    hi: u32,
    len: u32,
}

/// The prefixes typo matching needs and the symmetric-deletion map over them: sorted hashes of
/// each prefix and of its one-letter deletions, each beside the prefix's id.
fn deletion_map(text: &[u8], starts: &[u32]) -> (Vec<Prefix>, Vec<u32>, Vec<u32>) {
    let word = |i: usize| &text[starts[i] as usize..starts[i + 1] as usize];
    let n = starts.len().saturating_sub(1);
    // Words sharing a prefix are contiguous in the sorted vocabulary, so a prefix's range is
    // its first word's id to one past its last.
    let mut ranges: HashMap<&[u8], Prefix> = HashMap::new();
    for i in 0..n {
        let w = word(i);
        // A whole word of 4 letters can be the target of a typo in a 5-letter query (one
        // letter too many); only words of 5+ letters are matched as prefixes of longer words.
        let shortest = if w.len() == MIN_FUZZY - 1 { MIN_FUZZY - 1 } else { MIN_FUZZY };
        for len in shortest..=w.len().min(MAX_FUZZY + 1) {
            let p = &w[..len];
            let i = i as u32;
            ranges.entry(p).and_modify(|r| r.hi = i + 1).or_insert(Prefix { lo: i, hi: i + 1, len: len as u32 });
        }
    }
    let mut prefixes: Vec<Prefix> = ranges.into_values().collect();
    prefixes.sort_unstable();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for (id, p) in prefixes.iter().enumerate() {
        let bytes = &word(p.lo as usize)[..p.len as usize];
        pairs.push((hash_without(bytes, usize::MAX), id as u32));
        for skip in 0..bytes.len() {
            pairs.push((hash_without(bytes, skip), id as u32));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let (keys, ids) = pairs.into_iter().unzip();
    (prefixes, keys, ids)
}

/// Letters a directory tells apart: the end of a word, ten digits and 26 letters, which are all
/// a folded word holds.
const SYMBOLS: usize = 37;

/// A folded letter's place among [`SYMBOLS`], in byte order (the end of a word first, as a
/// shorter word sorts first); `None` for a byte no folded word holds.
fn symbol(b: Option<u8>) -> Option<usize> {
    match b {
        None => Some(0),
        Some(d @ b'0'..=b'9') => Some(1 + usize::from(d - b'0')),
        Some(l @ b'a'..=b'z') => Some(11 + usize::from(l - b'a')),
        Some(_) => None,
    }
}

/// A word's first two letters as one number, ordered as the words are: every word whose key
/// is below another's sorts before it, so the words sharing a key are one run of the sorted
/// vocabulary.
fn start_key(w: &[u8]) -> Option<usize> {
    Some(symbol(w.first().copied())? * SYMBOLS + symbol(w.get(1).copied())?)
}

/// For `n` items whose keys (`key(i)`, below `keys`) never decrease, and for each key and one
/// past the last, the first item whose key is not below it: the items with key `k` are
/// `dir[k]..dir[k + 1]`.
fn directory(n: usize, keys: usize, key: impl Fn(usize) -> usize) -> Vec<u32> {
    let mut dir = Vec::with_capacity(keys + 1);
    let mut i = 0;
    for k in 0..=keys {
        while i < n && key(i) < k {
            i += 1;
        }
        dir.push(i as u32);
    }
    dir
}

/// For each key of [`start_key`], where its words begin in the vocabulary: a word's place is
/// then searched among the few words sharing its first two letters instead of all of them,
/// which is most of a lookup's cache misses.
fn word_directory(text: &[u8], starts: &[u32]) -> Vec<u32> {
    let n = starts.len().saturating_sub(1);
    let key = |i: usize| start_key(&text[starts[i] as usize..starts[i + 1] as usize]).unwrap_or(SYMBOLS * SYMBOLS);
    directory(n, SYMBOLS * SYMBOLS, key)
}

/// The deletion map's buckets: about two keys a bucket, found by the top bits of a key
/// ([`bucket_of`]), so a lookup reads one bucket instead of halving the whole map.
fn buckets(keys: &[u32]) -> (Vec<u32>, u32) {
    let bits = (keys.len() / 2).max(1).next_power_of_two().trailing_zeros().min(24);
    (directory(keys.len(), 1 << bits, |i| bucket_of(keys[i], bits)), bits)
}

/// The bucket of deletion-map key `key` among `2^bits`.
fn bucket_of(key: u32, bits: u32) -> usize {
    if bits == 0 { 0 } else { (key >> (32 - bits)) as usize }
}

/// `a < b` as words: a byte loop, which for words of a few letters costs less than the call to
/// `memcmp` a slice comparison makes.
#[inline]
fn less(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Whether `word` begins with `prefix` (see [`less`] for why a loop).
#[inline]
fn begins(word: &[u8], prefix: &[u8]) -> bool {
    word.len() >= prefix.len() && word.iter().zip(prefix).all(|(x, y)| x == y)
}

/// FNV-1a of `w` without its byte at `skip` (none when `skip` is out of range). Collisions only
/// cost a candidate that the exact check then drops, so 32 bits are plenty and halve the map.
fn hash_without(w: &[u8], skip: usize) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (i, &b) in w.iter().enumerate() {
        if i != skip {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Whether `a` and `b` are at most one Damerau edit apart (insert, delete, substitute, or
/// transpose two adjacent letters), without building a distance matrix.
fn within_one(a: &[u8], b: &[u8]) -> bool {
    let (s, l) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let first_difference = s.iter().zip(l).position(|(x, y)| x != y);
    match l.len() - s.len() {
        0 => {
            let Some(i) = first_difference else { return true };
            s[i + 1..] == l[i + 1..]
                || (i + 1 < s.len() && s[i] == l[i + 1] && s[i + 1] == l[i] && s[i + 2..] == l[i + 2..])
        }
        1 => {
            let i = first_difference.unwrap_or(s.len());
            s[i..] == l[i + 1..]
        }
        _ => false,
    }
}

/// The searchable index of a catalogue. Immutable once built, so it is shared between threads
/// behind an `Arc` and replaced whole on reload.
pub struct Index {
    /// One past the largest document id added.
    docs: u32,
    /// The sorted vocabulary, concatenated; word `i` is `text[starts[i]..starts[i + 1]]`.
    text: Vec<u8>,
    starts: Vec<u32>,
    /// Word `i`'s postings are `postings[post_starts[i]..post_starts[i + 1]]`.
    post_starts: Vec<u32>,
    postings: Vec<u32>,
    /// Typo matching: the prefixes and the deletion map (`del_keys` sorted, `del_prefix`
    /// holding the prefix id of each key).
    prefixes: Vec<Prefix>,
    del_keys: Vec<u32>,
    del_prefix: Vec<u32>,
    /// Where each word's first two letters begin in the vocabulary (see [`word_directory`]).
    words_by_start: Vec<u32>,
    /// `del_keys` by their top `del_bits` bits: the keys of bucket `i` are
    /// `del_keys[del_buckets[i]..del_buckets[i + 1]]`, a few at most.
    del_buckets: Vec<u32>,
    del_bits: u32,
    /// What a query word that is a whole word of the vocabulary needs, worked out once per
    /// word at build ([`Index::learn_words`]), because most words typed are such words: a hash
    /// table of word ids (id + 1, 0 for empty; open addressing, a power of two long), then
    /// per word one past the last word it begins (its [`Span`]'s end) and the word ranges one
    /// typo away that [`Index::each_fuzzy`] would visit (word `i`'s are
    /// `typos[typo_starts[i]..typo_starts[i + 1]]`, sorted and not nested). A lookup then
    /// reads a few cache lines where the binary search and a dozen deletion-map probes read
    /// dozens.
    word_slots: Vec<u32>,
    word_hi: Vec<u32>,
    typo_starts: Vec<u32>,
    typos: Vec<[u32; 2]>,
}

/// One matching document and its score (the sum over the query words of their best match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub doc: u32,
    pub score: u32,
}

impl Index {
    /// Ranked matches for `query`, best first, at most `limit`; `popularity[doc]` breaks score
    /// ties (higher first; missing entries count 0), then doc id ascending. Empty when nothing
    /// matches or the query has no searchable word. `out` is cleared first and its capacity
    /// is reused as the candidate list, so a caller that keeps it allocates nothing.
    pub fn search(&self, query: &str, popularity: &[u32], limit: usize, out: &mut Vec<Hit>) {
        self.search_with(query, popularity, limit, out, true);
    }

    /// [`Index::search`]; `probe` false reads every posting list whole (the tests compare the
    /// two ways of matching a later query word).
    fn search_with(&self, query: &str, popularity: &[u32], limit: usize, out: &mut Vec<Hit>, probe: bool) {
        out.clear();
        if limit == 0 || self.docs == 0 {
            return;
        }
        let query = Query::parse(query);
        if query.n == 0 {
            return;
        }
        // The stamps are per thread so that a shared index needs no lock.
        per_thread(&SCRATCH, |scratch| self.collect(&query, scratch, out, probe));
        rank(out, popularity, limit);
    }

    /// One past the largest document id added (document ids are dense).
    pub fn docs(&self) -> usize {
        self.docs as usize
    }

    /// Distinct words in the index.
    pub fn vocabulary_size(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Approximate heap bytes of the index (not counting the per-thread search stamps, one
    /// `u32` per document per searching thread).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + 4 * (self.starts.capacity()
                + self.post_starts.capacity()
                + self.postings.capacity()
                + self.del_keys.capacity()
                + self.del_prefix.capacity()
                + self.words_by_start.capacity()
                + self.del_buckets.capacity()
                + self.word_slots.capacity()
                + self.word_hi.capacity()
                + self.typo_starts.capacity()
                + 2 * self.typos.capacity())
            + std::mem::size_of::<Prefix>() * self.prefixes.capacity()
    }

    fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.post_starts.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.prefixes.shrink_to_fit();
        self.del_keys.shrink_to_fit();
        self.del_prefix.shrink_to_fit();
        self.words_by_start.shrink_to_fit();
        self.del_buckets.shrink_to_fit();
        self.word_slots.shrink_to_fit();
        self.word_hi.shrink_to_fit();
        self.typo_starts.shrink_to_fit();
        self.typos.shrink_to_fit();
    }

    /// Works out, for every word of the vocabulary, what a query of that word needs (see
    /// `word_slots`): its span and its typo ranges, found the long way, as a query word
    /// outside the vocabulary still finds them.
    fn learn_words(&mut self) {
        let n = self.vocabulary_size();
        let slots = (2 * n).max(1).next_power_of_two();
        let mut table = vec![0u32; slots];
        let mut hi = Vec::with_capacity(n);
        let mut typo_starts = Vec::with_capacity(n + 1);
        let mut typos = Vec::new();
        typo_starts.push(0);
        let mut ranges = Vec::new();
        for i in 0..n {
            let w = self.word(i);
            let mut at = hash_without(w, usize::MAX) as usize & (slots - 1);
            while table[at] != 0 {
                at = (at + 1) & (slots - 1);
            }
            table[at] = i as u32 + 1;
            let span = self.search_span(w);
            hi.push(span.hi as u32);
            ranges.clear();
            self.typo_ranges(w, span, |a, b| {
                ranges.push((a, b));
                true
            });
            typos.extend(disjoint(&mut ranges).map(|(a, b)| [a, b]));
            typo_starts.push(typos.len() as u32);
        }
        self.word_slots = table;
        self.word_hi = hi;
        self.typo_starts = typo_starts;
        self.typos = typos;
    }

    /// The id of `w` when it is a word of the vocabulary (and the words are learnt).
    fn word_id(&self, w: &[u8]) -> Option<usize> {
        let mask = self.word_slots.len().checked_sub(1)?;
        let mut at = hash_without(w, usize::MAX) as usize & mask;
        loop {
            let id = (*self.word_slots.get(at)? as usize).checked_sub(1)?;
            if self.word(id) == w {
                return Some(id);
            }
            at = (at + 1) & mask;
        }
    }

    /// The learnt typo ranges of word `i` (none before the words are learnt).
    fn typos_of(&self, i: usize) -> Option<&[[u32; 2]]> {
        let (&a, &b) = (self.typo_starts.get(i)?, self.typo_starts.get(i + 1)?);
        self.typos.get(a as usize..b as usize)
    }

    fn word(&self, i: usize) -> &[u8] {
        &self.text[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// The words that may share `w`'s first two letters: all of them when `w` holds a byte no
    /// folded word does.
    fn run_of(&self, w: &[u8]) -> (usize, usize) {
        let at = |k: usize| self.words_by_start.get(k).map(|&i| i as usize);
        match start_key(w).and_then(|k| Some((at(k)?, at(k + 1)?))) {
            Some(run) => run,
            None => (0, self.vocabulary_size()),
        }
    }

    /// The first word id whose word is not less than `w`.
    fn lower_bound(&self, w: &[u8]) -> usize {
        let (mut lo, mut hi) = self.run_of(w);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if less(self.word(mid), w) { lo = mid + 1 } else { hi = mid }
        }
        lo
    }

    /// One past the last word beginning with `w`, searching from `lo` (where they begin).
    fn prefix_end(&self, w: &[u8], lo: usize) -> usize {
        // A prefix begins a few words, rarely hundreds: gallop from `lo` (1, 2, 4, ... words
        // on) to a word it does not begin, then search between, instead of halving the whole
        // vocabulary. Words `lo..a` begin with `w`; word `b`, if any, does not. Every word `w`
        // begins shares its first two letters, so none lies past their run.
        let n = self.run_of(w).1;
        let (mut a, mut b, mut step) = (lo, lo, 1);
        while b < n && begins(self.word(b), w) {
            a = b + 1;
            b = lo + step;
            step *= 2;
        }
        let (mut lo, mut hi) = (a, b.min(n));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if begins(self.word(mid), w) { lo = mid + 1 } else { hi = mid }
        }
        lo
    }

    /// Where `w` sits in the vocabulary: the first word not less than it, whether that word is
    /// `w` itself, and one past the last word `w` begins (3+ letters; else no prefix range).
    fn span(&self, w: &[u8]) -> Span {
        match self.word_id(w) {
            Some(i) => Span { lo: i, exact: true, hi: self.word_hi.get(i).map_or(i + 1, |&hi| hi as usize) },
            None => self.search_span(w),
        }
    }

    /// [`Index::span`] found by searching the vocabulary.
    fn search_span(&self, w: &[u8]) -> Span {
        let lo = self.lower_bound(w);
        let exact = lo < self.vocabulary_size() && self.word(lo) == w;
        let hi = if w.len() >= MIN_PREFIX { self.prefix_end(w, lo) } else { lo + usize::from(exact) };
        Span { lo, exact, hi }
    }

    /// Runs every query word over the postings, leaving in `out` the documents that match all
    /// of them with their summed scores (unordered).
    ///
    /// The first (rarest) word makes the candidates; each later word keeps those it matches.
    /// Most words typed are whole words of the vocabulary with no longer word beginning with
    /// them and no word a typo away: one posting list, sorted by document. While every word so
    /// far was such a word, the candidates are that list's documents in order, and a later
    /// word's list is walked beside them (galloping, so a common word such as `kibali` or
    /// `kaunti`, in thousands of documents, costs a few steps per candidate, not its length).
    /// Otherwise each word's postings mark the documents they hold in a per-thread array of
    /// stamps, which merges the hundreds of lists a short prefix matches in one pass.
    fn collect(&self, query: &Query, scratch: &mut Scratch, out: &mut Vec<Hit>, probe: bool) {
        if scratch.marks.len() < self.docs as usize {
            scratch.marks.resize(self.docs as usize, 0);
        }
        // Rarest word first: a word that matches nothing ends the search before the common
        // words' postings are read. The exact and prefix postings of a word are one contiguous
        // run (postings follow the sorted vocabulary), so counting them is two binary searches,
        // whose result the matching then reuses.
        let mut order = [(0u32, 0usize); MAX_QUERY_WORDS];
        let mut spans = [Span::default(); MAX_QUERY_WORDS];
        for (i, word) in query.words().enumerate() {
            let span = self.span(word);
            order[i] = (self.post_starts[span.hi] - self.post_starts[span.lo], i);
            spans[i] = span;
        }
        let order = &mut order[..query.n];
        order.sort_unstable();
        // Whether `out` holds its documents in ascending order, as one posting list does.
        let mut sorted = false;
        for (i, &(estimate, w)) in order.iter().enumerate() {
            let (word, span) = (query.word(w), spans[w]);
            if i == 0 {
                if probe && span.hi == span.lo + 1 && !self.any_fuzzy(word, span) {
                    let (keyword, name) = span.scores();
                    out.extend(
                        self.postings_of(span.lo)
                            .iter()
                            .map(|&p| Hit { doc: p & !NAME_BIT, score: score_of(p, keyword, name) }),
                    );
                    sorted = true;
                    continue;
                }
                let epoch = scratch.next_epoch();
                let marks = &mut scratch.marks;
                out.reserve(estimate as usize);
                let mut visit = |postings: &[u32], keyword, name| {
                    for &p in postings {
                        if mark(marks, epoch, p, keyword, name) {
                            out.push(Hit { doc: p & !NAME_BIT, score: 0 });
                        }
                    }
                };
                self.each_exact(span, &mut visit);
                self.each_fuzzy(word, span, &mut visit);
                self.keep_marked(out, marks, epoch);
            } else if sorted && span.hi == span.lo + 1 {
                self.walk_beside(word, span, scratch, out);
            } else {
                self.mark_and_keep(word, span, scratch, out, probe);
            }
            if out.is_empty() {
                return;
            }
        }
    }

    /// A later query word whose exact and prefix matches are one posting list, over candidates
    /// in document order: each candidate is found in the list by galloping from where the last
    /// one was (the list is sorted too). The candidates it misses may still match one typo
    /// away; those are looked up with the stamps, and the rest dropped. The order is kept.
    fn walk_beside(&self, word: &[u8], span: Span, scratch: &mut Scratch, out: &mut Vec<Hit>) {
        let postings = self.postings_of(span.lo);
        let (keyword, name) = span.scores();
        let mut missed = 0;
        let mut at = 0;
        for hit in out.iter_mut() {
            at = gallop(postings, at, hit.doc);
            match postings.get(at) {
                Some(&p) if p & !NAME_BIT == hit.doc => hit.score += score_of(p, keyword, name),
                _ => {
                    hit.score |= MISSED;
                    missed += 1;
                }
            }
        }
        if missed == 0 {
            return;
        }
        let epoch = scratch.next_epoch();
        let marks = &mut scratch.marks;
        let mut typos = false;
        {
            // Only the missed candidates are looked up: a typo scores below the list's match.
            let candidates: &[Hit] = out;
            let missed_only = |h: &&Hit| h.score & MISSED != 0;
            self.each_fuzzy(word, span, &mut |postings: &[u32], keyword, name| {
                typos = true;
                let missed_ones = candidates.iter().filter(missed_only);
                mark_candidates(marks, epoch, postings, (keyword, name), missed_ones, missed, true);
            });
        }
        if !typos {
            // Nothing is a typo away from this word: the missed candidates are simply dropped.
            out.retain(|hit| hit.score & MISSED == 0);
            return;
        }
        out.retain_mut(|hit| {
            if hit.score & MISSED == 0 {
                return true;
            }
            hit.score &= !MISSED;
            let mark = marks.get(hit.doc as usize).copied().unwrap_or(0);
            hit.score += mark & MARK_SCORE;
            mark >> MARK_SHIFT == epoch
        });
    }

    /// A later query word matched with the stamps: its postings mark the candidates they hold
    /// (looked up one by one where a list is long beside them), and the candidates it did not
    /// mark are dropped.
    fn mark_and_keep(&self, word: &[u8], span: Span, scratch: &mut Scratch, out: &mut Vec<Hit>, probe: bool) {
        let epoch = scratch.next_epoch();
        let marks = &mut scratch.marks;
        let candidates: &[Hit] = out;
        let visit = |marks: &mut [u32], postings: &[u32], keyword, name| {
            mark_candidates(marks, epoch, postings, (keyword, name), candidates.iter(), candidates.len(), probe);
        };
        self.each_exact(span, &mut |postings, keyword, name| visit(marks, postings, keyword, name));
        // A typo scores below any exact or prefix match and a mark keeps the best, so once
        // every candidate matched this word exactly or as a prefix, the typo matches (a dozen
        // lookups in the deletion map) cannot change a score.
        let all_marked = candidates.iter().all(|h| marks.get(h.doc as usize).is_some_and(|m| m >> MARK_SHIFT == epoch));
        if !all_marked {
            self.each_fuzzy(word, span, &mut |postings, keyword, name| visit(marks, postings, keyword, name));
        }
        self.keep_marked(out, marks, epoch);
    }

    /// AND: a candidate stays only if this round (`epoch`) marked it, and gains its mark's score.
    fn keep_marked(&self, out: &mut Vec<Hit>, marks: &[u32], epoch: u32) {
        out.retain_mut(|hit| {
            let mark = marks.get(hit.doc as usize).copied().unwrap_or(0);
            let hit_now = mark >> MARK_SHIFT == epoch;
            hit.score += if hit_now { mark & MARK_SCORE } else { 0 };
            hit_now
        });
    }

    /// Calls `visit(postings, keyword score, name score)` for the words a query word whose
    /// place is `span` matches exactly or as their beginning; [`Index::each_fuzzy`] adds those
    /// one typo away. A word may be visited twice at different scores; the caller keeps the
    /// best.
    fn each_exact(&self, span: Span, visit: &mut impl FnMut(&[u32], u32, u32)) {
        let Span { lo, exact, hi } = span;
        if exact {
            visit(self.postings_of(lo), SCORE_KEYWORD, SCORE_NAME);
        }
        for i in lo + usize::from(exact)..hi {
            visit(self.postings_of(i), SCORE_PREFIX, SCORE_PREFIX + NAME_BONUS);
        }
    }

    /// Calls `found(lo, hi)` for each beginning of a word one typo away from `w` (the words
    /// `lo..hi` begin with it) that is not inside `span`'s exact prefix range, until `found`
    /// returns false. Nothing for a word too short or too long to be tolerated a typo.
    fn typo_ranges(&self, w: &[u8], span: Span, mut found: impl FnMut(u32, u32) -> bool) {
        if !(MIN_FUZZY..=MAX_FUZZY).contains(&w.len()) {
            return;
        }
        let (plo, phi) = (span.lo, span.hi);
        for skip in std::iter::once(usize::MAX).chain(0..w.len()) {
            let key = hash_without(w, skip);
            let bucket = bucket_of(key, self.del_bits);
            let mut k = match (self.del_buckets.get(bucket), self.del_buckets.get(bucket + 1)) {
                (Some(&lo), Some(&hi)) => {
                    let keys = self.del_keys.get(lo as usize..hi as usize).unwrap_or_default();
                    lo as usize + keys.partition_point(|&x| x < key)
                }
                _ => self.del_keys.len(),
            };
            while self.del_keys.get(k) == Some(&key) {
                let pid = self.del_prefix.get(k).copied().unwrap_or(u32::MAX);
                k += 1;
                let Some(p) = self.prefixes.get(pid as usize) else { continue };
                let len = p.len as usize;
                if len + 1 < w.len() || len > w.len() + 1 {
                    continue;
                }
                let bytes = &self.word(p.lo as usize)[..len];
                if bytes == w || !within_one(w, bytes) {
                    continue;
                }
                // Inside the exact prefix range (or that range itself): those words already
                // matched better.
                let (a, b) = (p.lo as usize, p.hi as usize);
                if a >= plo && b <= phi && plo < phi {
                    continue;
                }
                if !found(p.lo, p.hi) {
                    return;
                }
            }
        }
    }

    /// The rest of what `w` matches after [`Index::each_exact`]: the words (or word beginnings)
    /// one typo away, each at the typo score.
    fn each_fuzzy(&self, w: &[u8], span: Span, visit: &mut impl FnMut(&[u32], u32, u32)) {
        let (plo, phi) = (span.lo, span.hi);
        if let Some(ranges) = self.typos_of(plo).filter(|_| span.exact) {
            for &[a, b] in ranges {
                self.visit_fuzzy(a as usize, b as usize, (plo, phi), visit);
            }
            return;
        }
        // Prefix ranges of a sorted vocabulary nest or are disjoint, which makes it simple to
        // skip what the exact prefix already covered and what another typo match covers.
        let mut ranges = [(0u32, 0u32); 32];
        let mut found = 0;
        self.typo_ranges(w, span, |a, b| {
            if found < ranges.len() {
                ranges[found] = (a, b);
                found += 1;
            } else {
                self.visit_fuzzy(a as usize, b as usize, (plo, phi), visit);
            }
            true
        });
        for (a, b) in disjoint(&mut ranges[..found]) {
            self.visit_fuzzy(a as usize, b as usize, (plo, phi), visit);
        }
    }

    /// Whether `w` has a typo match [`Index::each_fuzzy`] would visit: a word one typo away
    /// outside the exact prefix range.
    fn any_fuzzy(&self, w: &[u8], span: Span) -> bool {
        if let Some(ranges) = self.typos_of(span.lo).filter(|_| span.exact) {
            return !ranges.is_empty();
        }
        // Every range `typo_ranges` yields reaches outside the exact prefix range.
        let mut any = false;
        self.typo_ranges(w, span, |_, _| {
            any = true;
            false
        });
        any
    }

    /// Visits words `a..b` at the typo score, leaving out `exact` (the exact prefix range,
    /// already visited at a better score).
    fn visit_fuzzy(&self, a: usize, b: usize, exact: (usize, usize), visit: &mut impl FnMut(&[u32], u32, u32)) {
        for i in (a..b).filter(|i| !(exact.0..exact.1).contains(i)) {
            visit(self.postings_of(i), SCORE_FUZZY, SCORE_FUZZY + NAME_BONUS);
        }
    }

    fn postings_of(&self, i: usize) -> &[u32] {
        &self.postings[self.post_starts[i] as usize..self.post_starts[i + 1] as usize]
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("docs", &self.docs)
            .field("words", &self.vocabulary_size())
            .field("postings", &self.postings.len())
            .field("prefixes", &self.prefixes.len())
            .field("deletion_keys", &self.del_keys.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

/// Orders `out` best first and keeps at most `limit` (at least 1): the top is selected in
/// linear time before sorting, because a short prefix can match thousands of documents.
fn rank(out: &mut Vec<Hit>, popularity: &[u32], limit: usize) {
    let pop = |doc: u32| popularity.get(doc as usize).copied().unwrap_or(0);
    let order = |a: &Hit, b: &Hit| {
        b.score.cmp(&a.score).then_with(|| pop(b.doc).cmp(&pop(a.doc))).then_with(|| a.doc.cmp(&b.doc))
    };
    if out.len() > limit {
        out.select_nth_unstable_by(limit - 1, order);
        out.truncate(limit);
    }
    out.sort_unstable_by(order);
}

/// Word ranges (`lo..hi`) in order without those inside another. Prefix ranges of a sorted
/// vocabulary nest or are disjoint, so this is their union, each word once.
fn disjoint(ranges: &mut [(u32, u32)]) -> impl Iterator<Item = (u32, u32)> + '_ {
    // Widest first among ranges starting together, so nested ones are skipped.
    ranges.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
    let mut covered = 0;
    ranges.iter().copied().filter(move |&(_, b)| {
        let wider = b > covered;
        covered = covered.max(b);
        wider
    })
}

/// A query word's place in the vocabulary (see [`Index::span`]).
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    lo: usize,
    exact: bool,
    hi: usize,
}

impl Span {
    /// The (keyword, name) scores of the span's first word: exact when the query word is that
    /// word, else a prefix of it.
    fn scores(self) -> (u32, u32) {
        if self.exact { (SCORE_KEYWORD, SCORE_NAME) } else { (SCORE_PREFIX, SCORE_PREFIX + NAME_BONUS) }
    }
}

/// Set in a candidate's score while a round has not found it (scores are far below it).
const MISSED: u32 = 1 << 31;

/// The first place at or after `from` in `postings` (sorted by document) whose document is not
/// below `doc`: 1, 2, 4, ... places on until one is, then halving between.
fn gallop(postings: &[u32], from: usize, doc: u32) -> usize {
    let below = |i: usize| postings.get(i).is_some_and(|&p| p & !NAME_BIT < doc);
    if !below(from) {
        return from;
    }
    // `from + step / 2` is below `doc`, `from + step` is not (or is past the end).
    let mut step = 1;
    while below(from + step) {
        step *= 2;
    }
    let (lo, hi) = (from + step / 2 + 1, (from + step).min(postings.len()));
    lo + postings.get(lo..hi).map_or(0, |run| run.partition_point(|&p| p & !NAME_BIT < doc))
}

/// What posting `p` scores: `name` when its word is in the document's name, else `keyword`.
#[inline]
fn score_of(p: u32, keyword: u32, name: u32) -> u32 {
    if p & NAME_BIT != 0 { name } else { keyword }
}

/// Marks the document of posting `p` as matched in round `epoch`, at the name or keyword
/// score as the posting says, keeping the round's best; true when this round had not marked it.
#[inline]
fn mark(marks: &mut [u32], epoch: u32, p: u32, keyword: u32, name: u32) -> bool {
    let score = score_of(p, keyword, name);
    let Some(mark) = marks.get_mut((p & !NAME_BIT) as usize) else { return false };
    if *mark >> MARK_SHIFT == epoch {
        if score > *mark & MARK_SCORE {
            *mark = epoch << MARK_SHIFT | score;
        }
        false
    } else {
        *mark = epoch << MARK_SHIFT | score;
        true
    }
}

/// Marks in round `epoch`, at `scores` (keyword, name), the documents of `postings` among
/// `candidates` (`count` of them): each looked up by binary search where the list is long
/// beside them (and `probe`), else the whole list read, which marks documents that are not
/// candidates too, harmlessly, as only candidates' marks are read back.
fn mark_candidates<'h>(
    marks: &mut [u32],
    epoch: u32,
    postings: &[u32],
    (keyword, name): (u32, u32),
    candidates: impl Iterator<Item = &'h Hit>,
    count: usize,
    probe: bool,
) {
    if probe && probe_is_cheaper(count, postings.len()) {
        // Postings are sorted by document id (the name bit above it).
        for hit in candidates {
            let at = postings.partition_point(|&p| p & !NAME_BIT < hit.doc);
            if let Some(&p) = postings.get(at).filter(|&&p| p & !NAME_BIT == hit.doc) {
                mark(marks, epoch, p, keyword, name);
            }
        }
    } else {
        for &p in postings {
            mark(marks, epoch, p, keyword, name);
        }
    }
}

/// Whether looking each of `candidates` up in a posting list of `postings` (a binary search
/// each) reads less than the list itself.
#[inline]
fn probe_is_cheaper(candidates: usize, postings: usize) -> bool {
    postings > 16 && candidates * (postings.ilog2() as usize + 1) < postings
}

/// A mark holds the round (epoch) that wrote it above the best score of that round.
const MARK_SHIFT: u32 = 4;
const MARK_SCORE: u32 = (1 << MARK_SHIFT) - 1;

/// Per-thread search state: one mark per document. Each query word is a new epoch, so marks
/// of earlier rounds and searches are stale without being cleared.
#[derive(Default)]
struct Scratch {
    marks: Vec<u32>,
    epoch: u32,
}

impl Scratch {
    fn next_epoch(&mut self) -> u32 {
        self.epoch += 1;
        if self.epoch >= u32::MAX >> MARK_SHIFT {
            self.marks.fill(0);
            self.epoch = 1;
        }
        self.epoch
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` on this thread's value of `key`: a value kept per thread so that what it holds
/// (stamps, a candidate list) is allocated once per thread, not once per search, and shared
/// data needs no lock. A nested call (none today) or a thread being torn down gets a fresh
/// value instead of a panic.
pub fn per_thread<T: Default, R>(key: &'static LocalKey<RefCell<T>>, mut f: impl FnMut(&mut T) -> R) -> R {
    match key.try_with(|cell| cell.try_borrow_mut().ok().map(|mut value| f(&mut value))) {
        Ok(Some(r)) => r,
        _ => f(&mut T::default()),
    }
}

/// A query's folded words, on the stack.
struct Query {
    buf: [[u8; MAX_WORD]; MAX_QUERY_WORDS],
    lens: [u8; MAX_QUERY_WORDS],
    n: usize,
}

impl Query {
    fn empty() -> Query {
        Query { buf: [[0; MAX_WORD]; MAX_QUERY_WORDS], lens: [0; MAX_QUERY_WORDS], n: 0 }
    }

    /// The query's words without stop words, or its stop words when that leaves none.
    fn parse(text: &str) -> Query {
        let mut words = Query::empty();
        let mut stops = Query::empty();
        scan(text, |w| {
            if is_stop_word(w) {
                stops.push(w);
            } else {
                words.push(w);
            }
            words.n < MAX_QUERY_WORDS
        });
        if words.n == 0 { stops } else { words }
    }

    fn push(&mut self, w: &[u8]) {
        if self.n < MAX_QUERY_WORDS {
            self.buf[self.n][..w.len()].copy_from_slice(w);
            self.lens[self.n] = w.len() as u8;
            self.n += 1;
        }
    }

    fn words(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.n).map(|i| self.word(i))
    }

    fn word(&self, i: usize) -> &[u8] {
        &self.buf[i][..usize::from(self.lens[i])]
    }
}

fn is_stop_word(w: &[u8]) -> bool {
    STOP_WORDS.iter().any(|s| s.as_bytes() == w)
}

/// The folded words of a text as the index sees them (lowercase ASCII, accents removed,
/// apostrophes dropped so Swahili `ng'ombe` == `ngombe`, other punctuation separates words;
/// words cut to [`MAX_WORD`] letters): used by callers to count search misses per term.
/// Stop words are included; [`STOP_WORDS`] lists them.
pub fn words(text: &str) -> impl Iterator<Item = String> {
    let mut all = Vec::new();
    scan(text, |w| {
        all.push(w.iter().map(|&b| char::from(b)).collect::<String>());
        true
    });
    all.into_iter()
}

/// Calls `emit` with each folded word of `text` until it returns false.
fn scan(text: &str, mut emit: impl FnMut(&[u8]) -> bool) {
    let mut buf = [0u8; MAX_WORD];
    let mut len = 0;
    for c in text.chars() {
        match fold(c) {
            Fold::Letter(b) => {
                // Letters past the cap are dropped, not split off: the cut word still equals
                // itself wherever it is folded.
                if len < MAX_WORD {
                    buf[len] = b;
                    len += 1;
                }
            }
            Fold::Drop => {}
            Fold::Separator => {
                if len > 0 && !emit(&buf[..len]) {
                    return;
                }
                len = 0;
            }
        }
    }
    if len > 0 {
        emit(&buf[..len]);
    }
}

enum Fold {
    Letter(u8),
    /// Left out without ending the word: apostrophes, as in `ng'ombe`.
    Drop,
    Separator,
}

/// One character as the index sees it. Feature phones send plain ASCII, but names arrive from
/// agencies with accents and smartphone apostrophes, and both must meet the keypad's letters.
fn fold(c: char) -> Fold {
    if c.is_ascii_alphanumeric() {
        return Fold::Letter(c.to_ascii_lowercase() as u8);
    }
    let letter = match c {
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '\u{00B4}' => return Fold::Drop,
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => b'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => b'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => b'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' => b'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => b'u',
        'ç' | 'Ç' => b'c',
        'ñ' | 'Ñ' => b'n',
        'ý' | 'ÿ' | 'Ý' => b'y',
        _ => return Fold::Separator,
    };
    Fold::Letter(letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small bilingual catalogue: (names, keywords, popularity).
    const CATALOGUE: &[(&[&str], &[&str], u32)] = &[
        /* 0 */ (&["Leseni ya Udereva", "Driving licence"], &["NTSA", "1001"], 50),
        /* 1 */ (&["Kibali cha Biashara", "Single business permit"], &["leseni", "county"], 40),
        /* 2 */ (&["Usajili wa Kuzaliwa", "Birth registration"], &["cheti", "certificate"], 30),
        /* 3 */ (&["Cheti cha Kuzaliwa", "Birth certificate"], &["civil registration"], 20),
        /* 4 */ (&["Pasipoti", "Passport application"], &["immigration", "safari"], 60),
        /* 5 */ (&["Malipo ya Ushuru wa Ardhi", "Land rates payment"], &["ardhi", "rates"], 10),
        /* 6 */ (&["Kibali cha kusafirisha ng'ombe", "Cattle movement permit"], &["mifugo"], 5),
        /* 7 */ (&["Ukaguzi wa Café", "Café inspection"], &["hoteli"], 1),
        /* 8 */ (&["Leseni ya Udereva: kuhuisha", "Driving licence renewal"], &["NTSA"], 70),
        /* 9 */ (&["Kitambulisho cha Taifa", "National ID card"], &["id", "huduma"], 80),
    ];

    fn fixture() -> (Index, Vec<u32>) {
        let mut b = Builder::default();
        let mut pop = Vec::new();
        for (doc, (names, keywords, p)) in CATALOGUE.iter().enumerate() {
            for name in *names {
                b.add(doc as u32, Field::Name, name);
            }
            for k in *keywords {
                b.add(doc as u32, Field::Keyword, k);
            }
            pop.push(*p);
        }
        (b.build(), pop)
    }

    fn docs(index: &Index, pop: &[u32], query: &str) -> Vec<u32> {
        let mut out = Vec::new();
        index.search(query, pop, 10, &mut out);
        out.iter().map(|h| h.doc).collect()
    }

    #[test]
    fn folding_table() {
        let cases: &[(&str, &[&str])] = &[
            ("Leseni ya Udereva", &["leseni", "ya", "udereva"]),
            ("Ng'ombe", &["ngombe"]),
            ("ng\u{2019}ombe", &["ngombe"]),
            ("CAFÉ crème, À LA CARTE", &["cafe", "creme", "a", "la", "carte"]),
            ("ÉÈÊË áàâä íï óöô úüû ç ñ ÇÑ", &["eeee", "aaaa", "ii", "ooo", "uuu", "c", "n", "cn"]),
            ("NJ-7K2QX", &["nj", "7k2qx"]),
            ("kazi/ajira (2024)", &["kazi", "ajira", "2024"]),
            ("'quoted' '", &["quoted"]),
            ("emoji 🙂 between", &["emoji", "between"]),
            ("", &[]),
            ("  \t\n ", &[]),
            ("!?.,;:-", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = words(text).collect();
            assert_eq!(&got, want, "words({text:?})");
        }
        let long = "a".repeat(100);
        assert_eq!(words(&long).collect::<Vec<_>>(), vec!["a".repeat(MAX_WORD)]);
    }

    #[test]
    fn typo_distance_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("leseni", "leseni", true),
            ("lesrni", "leseni", true),  // substitution
            ("lseeni", "leseni", true),  // transposition
            ("lesni", "leseni", true),   // deletion
            ("lesenii", "leseni", true), // insertion
            ("lsrni", "leseni", false),  // two edits
            ("ab", "ba", true),
            ("abc", "cab", false),
            ("", "a", true),
            ("abcd", "ab", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(within_one(a.as_bytes(), b.as_bytes()), *want, "within_one({a:?}, {b:?})");
            assert_eq!(within_one(b.as_bytes(), a.as_bytes()), *want, "within_one({b:?}, {a:?})");
        }
    }

    /// (query, expected documents in order). Where several documents tie on score the
    /// catalogue's popularity decides, which the expectations spell out.
    #[test]
    fn search_table() {
        let (index, pop) = fixture();
        let cases: &[(&str, &[u32])] = &[
            // Exact name words before keywords; popularity orders equal scores (8 over 0).
            ("leseni", &[8, 0, 1]),
            ("LESENI", &[8, 0, 1]),
            // Prefixes of 3+ letters.
            ("lese", &[8, 0, 1]),
            ("pas", &[4]),
            ("kib", &[1, 6]),
            // Two-letter words match exactly only: `id` is a keyword, `ki` begins nothing.
            ("id", &[9]),
            ("ki", &[]),
            // One typo on words of 5+ letters: substitution, deletion, transposition, and
            // against the beginning of a longer word (`lesrn` ~ `lesen`, which begins leseni).
            ("lesrni", &[8, 0, 1]),
            ("pasport", &[4]),
            ("pasipto", &[4]),
            ("lesrn", &[8, 0, 1]),
            ("kibalu", &[1, 6]),
            // No typo on short words.
            ("lesx", &[]),
            // Stop words are ignored, AND holds on the rest, and either language finds it.
            ("leseni ya udereva", &[8, 0]),
            ("Driving licence", &[8, 0]),
            ("udereva licence", &[8, 0]),
            ("driving licence renewal", &[8]),
            ("birth certificate", &[3, 2]),
            ("birth cert", &[3, 2]),
            ("cheti kuzaliwa", &[3, 2]),
            ("birth passport", &[]),
            // A query of only stop words searches them.
            ("ya", &[8, 0, 5]),
            // Apostrophes and accents meet the keypad's letters.
            ("ngombe", &[6]),
            ("ng'ombe", &[6]),
            ("NG\u{2019}OMBE", &[6]),
            ("cafe", &[7]),
            ("CAFÉ", &[7]),
            // Digits are words: a service code added as a keyword.
            ("1001", &[0]),
            ("100", &[0]),
            // Nothing searchable, or nothing found.
            ("", &[]),
            ("   ", &[]),
            ("?!*#", &[]),
            ("zzzzqx", &[]),
        ];
        for (query, want) in cases {
            assert_eq!(&docs(&index, &pop, query), want, "search({query:?})");
        }
    }

    /// name word > keyword > prefix (name, then keyword) > typo (name, then keyword), whatever
    /// the popularity, which here runs the other way.
    #[test]
    fn tiers_rank_in_order() {
        let entries: &[(Field, &str)] = &[
            (Field::Keyword, "zebrq"),
            (Field::Name, "zebrq"),
            (Field::Keyword, "zebras"),
            (Field::Name, "zebras"),
            (Field::Keyword, "zebra"),
            (Field::Name, "zebra"),
        ];
        let mut b = Builder::default();
        for (doc, (field, text)) in entries.iter().enumerate() {
            b.add(doc as u32, *field, text);
        }
        let index = b.build();
        let pop: Vec<u32> = (0..entries.len() as u32).map(|d| 100 - d).collect();
        let mut out = Vec::new();
        index.search("zebra", &pop, 10, &mut out);
        let got: Vec<(u32, u32)> = out.iter().map(|h| (h.doc, h.score)).collect();
        assert_eq!(
            got,
            vec![
                (5, SCORE_NAME),
                (4, SCORE_KEYWORD),
                (3, SCORE_PREFIX + NAME_BONUS),
                (2, SCORE_PREFIX),
                (1, SCORE_FUZZY + NAME_BONUS),
                (0, SCORE_FUZZY)
            ]
        );
    }

    #[test]
    fn ties_break_by_popularity_then_doc_and_limit_cuts() {
        let mut b = Builder::default();
        for doc in 0..6 {
            b.add(doc, Field::Name, "kibali");
        }
        let index = b.build();
        let mut out = Vec::new();
        // Docs 4 and 5 are missing from popularity (count 0), like 0 and 2.
        index.search("kibali", &[0, 9, 0, 9], 4, &mut out);
        assert_eq!(out.iter().map(|h| h.doc).collect::<Vec<_>>(), vec![1, 3, 0, 2]);
        index.search("kibali", &[], 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(index.docs(), 6);
    }

    #[test]
    fn empty_index_and_ignored_ids() {
        let mut b = Builder::default();
        b.add(MAX_DOCS, Field::Name, "leseni");
        let index = b.build();
        assert_eq!(index.docs(), 0);
        let mut out = vec![Hit { doc: 1, score: 1 }];
        index.search("leseni", &[], 10, &mut out);
        assert!(out.is_empty());
        assert!(format!("{index:?}").contains("docs: 0"));
    }

    /// A catalogue large enough that later query words are looked up by probing: every
    /// document has the common words, a few share each rarer one, and names and keywords mix.
    fn large_fixture() -> (Index, Vec<u32>) {
        let (texts, pop) = large_texts();
        let mut b = Builder::default();
        for (doc, fields) in texts.iter().enumerate() {
            for (field, text) in fields {
                b.add(doc as u32, *field, text);
            }
        }
        (b.build(), pop)
    }

    /// The texts of [`large_fixture`]'s documents, by document, and their popularity.
    fn large_texts() -> (Vec<Vec<(Field, String)>>, Vec<u32>) {
        const COMMON: [&str; 4] = ["kibali", "leseni", "kaunti", "huduma"];
        const RARE: [&str; 12] = [
            "mombasa", "kwale", "kilifi", "lamu", "nyeri", "embu", "meru", "kitui", "wajir", "marsabit", "isiolo",
            "turkana",
        ];
        const THINGS: [&str; 10] =
            ["duka", "kuni", "misitu", "nyama", "mifugo", "shule", "maji", "kaburi", "hema", "mnara"];
        // Words one typo away from the fixture's own, in some documents' keywords: a later
        // query word then matches some candidates exactly and others only by the typo.
        const VARIANTS: [&str; 6] = ["mifuko", "kabuli", "shulle", "lesseni", "mombassa", "turkanna"];
        let mut texts = Vec::new();
        let mut pop = Vec::new();
        for doc in 0..3_000u32 {
            let d = doc as usize;
            let name = format!("{} cha {}, {}", COMMON[d % 2], THINGS[d % THINGS.len()], RARE[d % RARE.len()]);
            let mut keywords = format!("{} {} {doc}", COMMON[2 + d % 2], THINGS[(d / 7) % THINGS.len()]);
            if d.is_multiple_of(5) {
                keywords = format!("{keywords} {}", VARIANTS[(d / 5) % VARIANTS.len()]);
            }
            texts.push(vec![(Field::Name, name), (Field::Keyword, keywords)]);
            pop.push((doc * 7919) % 1000);
        }
        (texts, pop)
    }

    /// What the matching rules (the module's documentation) give, worked out the slow way: every
    /// query word against every word of every document. The index must agree with it exactly.
    fn oracle(texts: &[Vec<(Field, String)>], pop: &[u32], query: &str) -> Vec<Hit> {
        // The words a typo may be matched against: a whole word of 4 letters, or the beginnings
        // of 5 to MAX_FUZZY + 1 letters of a longer one.
        let typo_targets = |w: &[u8]| -> Vec<Vec<u8>> {
            if w.len() == MIN_FUZZY - 1 {
                return vec![w.to_vec()];
            }
            (MIN_FUZZY..=w.len().min(MAX_FUZZY + 1)).map(|n| w[..n].to_vec()).collect()
        };
        let score = |q: &[u8], w: &[u8], name: bool| -> u32 {
            let bonus = if name { NAME_BONUS } else { 0 };
            if q == w {
                if name { SCORE_NAME } else { SCORE_KEYWORD }
            } else if q.len() >= MIN_PREFIX && w.starts_with(q) {
                SCORE_PREFIX + bonus
            } else if (MIN_FUZZY..=MAX_FUZZY).contains(&q.len())
                && typo_targets(w).iter().any(|t| t.as_slice() != q && within_one(q, t))
            {
                SCORE_FUZZY + bonus
            } else {
                0
            }
        };
        let query = Query::parse(query);
        let mut hits = Vec::new();
        for (doc, fields) in texts.iter().enumerate() {
            let words: Vec<(Vec<u8>, bool)> = fields
                .iter()
                .flat_map(|(field, text)| words(text).map(move |w| (w.into_bytes(), *field == Field::Name)))
                .collect();
            let mut total = 0;
            let all = query.words().all(|q| {
                let best = words.iter().map(|(w, name)| score(q, w, *name)).max().unwrap_or(0);
                total += best;
                best > 0
            });
            if query.n > 0 && all {
                hits.push(Hit { doc: doc as u32, score: total });
            }
        }
        rank(&mut hits, pop, usize::MAX);
        hits
    }

    /// The index finds what the slow reading of the rules finds, at the same scores and in the
    /// same order: whole words, prefixes, typos of every kind, in names and keywords, alone and
    /// ANDed, including words that match nothing.
    #[test]
    fn index_agrees_with_the_rules_read_slowly() {
        let (texts, pop) = large_texts();
        let (index, _) = large_fixture();
        let queries = [
            "kibali kuni mombasa",
            "kibali mombasa",
            "leseni duka kwale",
            "huduma leseni",
            "kiba mom",
            "kibalu misitu nyeri",
            "lesen nyama",
            "mombas",
            "mombassa",
            "mobmasa",
            "mombaza kuni",
            "turkan shule",
            "marsabi",
            "mifug kaunti",
            "kitu",
            "kitui",
            "kituu",
            "hemaa",
            "mnar",
            "12",
            "123",
            "1234",
            "2999",
            "nyeri 17",
            "xyzzy",
            "kibali xyzzy",
            "isiolo turkana",
            "kuni mifugo",
            "mifugo kuni",
            "kwale kaburi",
            "nyeri shule",
            "duka mombasa",
            "embu leseni kaburi",
            "turkana shule",
        ];
        for query in queries {
            let mut got = Vec::new();
            index.search(query, &pop, usize::MAX, &mut got);
            assert_eq!(got, oracle(&texts, &pop, query), "{query:?}");
        }
    }
    /// What the index learnt of each word of the vocabulary at build is what a query of that
    /// word would find the long way: its span, and the words one typo away.
    #[test]
    fn learnt_words_agree_with_the_long_way() {
        let (index, _) = large_fixture();
        let mut with_typos = 0;
        for i in 0..index.vocabulary_size() {
            let w = index.word(i);
            assert_eq!(index.word_id(w), Some(i), "{:?}", String::from_utf8_lossy(w));
            let (learnt, long) = (index.span(w), index.search_span(w));
            assert_eq!((learnt.lo, learnt.exact, learnt.hi), (long.lo, long.exact, long.hi));
            let mut ranges = Vec::new();
            index.typo_ranges(w, long, |a, b| {
                ranges.push((a, b));
                true
            });
            let words = |ranges: &mut dyn Iterator<Item = (u32, u32)>| {
                let mut words: Vec<u32> = ranges.flat_map(|(a, b)| a..b).collect();
                words.sort_unstable();
                words.dedup();
                words
            };
            let learnt = index.typos_of(i).expect("the words are learnt");
            assert_eq!(learnt.is_empty(), ranges.is_empty(), "{:?}", String::from_utf8_lossy(w));
            assert_eq!(
                words(&mut learnt.iter().map(|&[a, b]| (a, b))),
                words(&mut ranges.into_iter()),
                "{:?}",
                String::from_utf8_lossy(w)
            );
            with_typos += usize::from(!learnt.is_empty());
        }
        // The fixture has words a typo from others, or this test says little.
        assert!(with_typos > 0);
        // A word outside the vocabulary is found the long way.
        assert_eq!(index.word_id(b"zzzzzz"), None);
        assert_eq!(Builder::default().build().word_id(b"kibali"), None);
    }

    /// Probing a candidate in a long posting list finds exactly what reading the list finds:
    /// the same documents at the same scores, in the same order.
    #[test]
    fn probing_finds_what_scanning_finds() {
        let (index, pop) = large_fixture();
        let queries = [
            "kibali kuni mombasa",
            "kibali mombasa",
            "leseni duka kwale",
            "huduma leseni",
            "kibali kaunti",
            "kiba mom",
            "kibalu misitu nyeri",
            "lesen nyama",
            "huduma kwale kuni",
            "meru kibali kaunti",
            "mifugo kaunti",
            "kibali",
            "isiolo",
        ];
        for query in queries {
            for limit in [1, 20, usize::MAX] {
                let mut probed = Vec::new();
                let mut scanned = Vec::new();
                index.search_with(query, &pop, limit, &mut probed, true);
                index.search_with(query, &pop, limit, &mut scanned, false);
                assert_eq!(probed, scanned, "{query:?} at limit {limit}");
                assert!(!probed.is_empty(), "{query:?} finds nothing: the test says nothing");
            }
        }
    }

    #[test]
    fn index_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Index>();
    }

    #[test]
    fn tricky_inputs_never_panic() {
        let (index, pop) = fixture();
        let long_word = "x".repeat(10_000);
        let long_words = "leseni ".repeat(1_500);
        let long_mixed = "é'🙂-1".repeat(2_000);
        let inputs = [
            "",
            " ",
            "''''",
            "-",
            "🙂🙂🙂",
            "\u{0}\u{7f}\u{feff}",
            "0123456789",
            long_word.as_str(),
            long_words.as_str(),
            long_mixed.as_str(),
            "ya wa la za cha vya kwa na ni the of and for to a my",
            "a b c d e f g h i j k l m n o p q r s t",
        ];
        for input in inputs {
            for limit in [0, 1, 10, usize::MAX] {
                let mut out = Vec::new();
                index.search(input, &pop, limit, &mut out);
                assert!(out.len() <= limit.min(index.docs()));
            }
            let _ = words(input).count();
        }
    }

    proptest::proptest! {
        #[test]
        fn any_query_gives_ranked_distinct_hits(query in "\\PC{0,40}", limit in 0usize..12) {
            let (index, pop) = fixture();
            let mut out = Vec::new();
            index.search(&query, &pop, limit, &mut out);
            proptest::prop_assert!(out.len() <= limit);
            let mut seen: Vec<u32> = out.iter().map(|h| h.doc).collect();
            seen.sort_unstable();
            seen.dedup();
            proptest::prop_assert_eq!(seen.len(), out.len());
            for pair in out.windows(2) {
                proptest::prop_assert!(pair[0].score >= pair[1].score);
            }
        }

        #[test]
        fn every_name_word_finds_its_document(doc in 0usize..CATALOGUE.len(), pick in 0usize..16) {
            let (index, pop) = fixture();
            let all: Vec<String> = CATALOGUE[doc].0.iter().flat_map(|n| words(n)).collect();
            let word = &all[pick % all.len()];
            let mut out = Vec::new();
            index.search(word, &pop, usize::MAX, &mut out);
            proptest::prop_assert!(out.iter().any(|h| h.doc as usize == doc), "{} misses doc {}", word, doc);
        }

        /// Words of the large fixture, cut short, misspelt or ANDed at random, agree with
        /// [`oracle`].
        #[test]
        fn any_misspelling_agrees_with_the_rules(
            picks in proptest::collection::vec((0usize..3_000, 0usize..8, 0usize..6, 0usize..40, 0u8..36), 1..4)
        ) {
            let (texts, pop) = large_texts();
            let (index, _) = large_fixture();
            let mut query = Vec::new();
            for (doc, word, edit, at, letter) in picks {
                let all: Vec<String> = texts[doc].iter().flat_map(|(_, t)| words(t)).collect();
                let mut w: Vec<u8> = all[word % all.len()].clone().into_bytes();
                let at = at % (w.len() + 1);
                let letter = if letter < 10 { b'0' + letter } else { b'a' + letter - 10 };
                match edit {
                    0 => {}
                    1 => w.truncate(at.max(1)),
                    2 => w.insert(at, letter),
                    3 if at < w.len() => { w.remove(at); }
                    4 if at < w.len() => w[at] = letter,
                    5 if at + 1 < w.len() => w.swap(at, at + 1),
                    _ => {}
                }
                query.push(String::from_utf8(w).unwrap_or_default());
            }
            let query = query.join(" ");
            let mut got = Vec::new();
            index.search(&query, &pop, usize::MAX, &mut got);
            proptest::prop_assert_eq!(got, oracle(&texts, &pop, &query), "{}", query);
        }

        #[test]
        fn folded_words_are_lowercase_ascii(text in "\\PC{0,60}") {
            for w in words(&text) {
                proptest::prop_assert!(!w.is_empty() && w.len() <= MAX_WORD);
                proptest::prop_assert!(w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
        }
    }
}
