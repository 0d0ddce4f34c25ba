//! Heap and CPU profiling runs of the reference SSE server (work in progress).
