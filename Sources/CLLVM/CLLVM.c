/* CLLVM.c: empty; SwiftPM builds a C target from at least one source, and the target exists for its headers
 * (include/CLLVM.h and the links to LLVM 19's C headers) and its link to libLLVM-19. */
#include "CLLVM.h"
