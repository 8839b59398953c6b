//! Data parallelism over slices: contiguous chunks on scoped threads, results in
//! order, so that a parallel pass gives what the sequential one would.

/// Applies `f` to `threads` contiguous chunks of `items` (fewer when there are fewer
/// than `min_chunk` items per chunk), on scoped threads, and returns the results in
/// chunk order with each chunk's offset. One chunk runs on the calling thread.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_chunk: usize,
    f: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    match chunk_size(items.len(), threads, min_chunk) {
        None => vec![f(0, items)],
        Some(size) => run(items.chunks(size), size, f),
    }
}

/// [`map_chunks`] of owned items: each chunk is `f`'s to consume, so that what it is done
/// with goes as soon as it is.
pub fn map_owned<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    min_chunk: usize,
    f: impl Fn(usize, Vec<T>) -> R + Sync,
) -> Vec<R> {
    let Some(size) = chunk_size(items.len(), threads, min_chunk) else { return vec![f(0, items)] };
    let mut items = items.into_iter();
    let parts = std::iter::from_fn(|| Some(items.by_ref().take(size).collect::<Vec<_>>()).filter(|c| !c.is_empty()));
    run(parts, size, f)
}

/// The size of each chunk, `None` for one chunk of everything.
fn chunk_size(len: usize, threads: usize, min_chunk: usize) -> Option<usize> {
    let n = threads.min(len / min_chunk.max(1)).max(1);
    (n > 1).then(|| len.div_ceil(n))
}

/// `f` on each of `parts` (of `size` items, the last maybe fewer): the first on the
/// calling thread, each other on its own.
fn run<P: Send, R: Send>(mut parts: impl Iterator<Item = P>, size: usize, f: impl Fn(usize, P) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let f = &f;
        let first = parts.next().expect("at least one chunk");
        let handles: Vec<_> = parts.enumerate().map(|(i, c)| s.spawn(move || f((i + 1) * size, c))).collect();
        let mut out = vec![f(0, first)];
        out.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::{map_chunks, map_owned};

    #[test]
    fn chunks_cover_the_items_in_order_with_their_offsets() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 7, 64] {
            let parts = map_chunks(&items, threads, 10, |at, c| (at, c.to_vec()));
            assert!(parts.len() <= threads.min(100), "{threads} threads: {} chunks", parts.len());
            let mut next = 0;
            for (at, c) in &parts {
                assert_eq!(*at, next);
                next += c.len();
            }
            let flat: Vec<u32> = parts.into_iter().flat_map(|(_, c)| c).collect();
            assert_eq!(flat, items);
        }
        assert_eq!(map_chunks(&items[..5], 8, 10, |_, c| c.len()), [5], "small inputs stay on one thread");
        assert_eq!(map_chunks::<u32, usize>(&[], 8, 10, |_, c| c.len()), [0]);
    }

    #[test]
    fn owned_chunks_are_the_same_chunks() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 7, 64] {
            let owned = map_owned(items.clone(), threads, 10, |at, c| (at, c));
            assert_eq!(owned, map_chunks(&items, threads, 10, |at, c| (at, c.to_vec())), "{threads} threads");
        }
        assert_eq!(map_owned(Vec::<u32>::new(), 8, 10, |_, c| c.len()), [0]);
    }
}
