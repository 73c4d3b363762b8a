// C headers of OpenBLAS (CBLAS) and LAPACKE, imported into Swift as the COpenBLAS module.
// Only this system-library target names them; Swift targets import COpenBLAS.
#include <cblas.h>
#include <lapacke.h>
