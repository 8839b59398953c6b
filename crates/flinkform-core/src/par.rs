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
    let n = threads.min(items.len() / min_chunk.max(1)).max(1);
    if n == 1 {
        return vec![f(0, items)];
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let f = &f;
        let mut parts = items.chunks(size).enumerate();
        let (_, first) = parts.next().expect("at least one chunk");
        let handles: Vec<_> = parts.map(|(i, c)| s.spawn(move || f(i * size, c))).collect();
        let mut out = vec![f(0, first)];
        out.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::map_chunks;

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
}
