// The number of OpenMP threads every CPU kernel of this module uses.
// Kernels pass num_threads() to each parallel region explicitly so the setting
// holds whichever Python thread calls them (omp_set_num_threads is per thread).
#pragma once

namespace pk {

int num_threads();
void set_num_threads(int n);

}  // namespace pk
