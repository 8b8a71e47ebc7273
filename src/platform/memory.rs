//! The allocator's settings: what the server's resident memory grows with, set deliberately
//! (docs/operations.md, "Memory").

/// Allocations this large or larger get a mapping of their own, returned to the system when
/// freed: glibc's default (128 KiB) that it would otherwise raise, for good, to the largest
/// block freed — so after one sign-in, each password hash's 19 MiB (argon2's memory cost) stayed
/// in the heap, resident: 40 MiB after a sign-in instead of 21.
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Sets the allocator up: call first thing in `main`, before any other thread starts.
///
/// - Large blocks (see `MMAP_THRESHOLD`) go back to the system when freed.
/// - Two arenas: glibc gives threads that allocate at once arenas of their own, up to 8 per
///   CPU, and memory freed in one arena serves only that arena, so the HTTP workers, their
///   blocking threads and the batch workers could each grow one. Two cost no measurable
///   throughput (the `limits` benchmark).
///
/// `MALLOC_ARENA_MAX` and `MALLOC_MMAP_THRESHOLD_`, when set, win.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |name: &str| std::env::var_os(name).is_none();
        // SAFETY: only tunes the allocator; no other thread exists yet.
        unsafe {
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
            if unset("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
    }
}
