// INQ_HD marks a function compiled for both the host and the device: the CPU reference and the
// CUDA kernels share one definition of what must agree bit for bit (random draws, INQ levels).
#pragma once

#if defined(__CUDACC__)
#define INQ_HD __host__ __device__ __forceinline__
#else
#define INQ_HD inline
#endif
