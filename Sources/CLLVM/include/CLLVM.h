// The LLVM-C API (LLVM 19, Debian's llvm-19-dev), imported into Swift as the CLLVM module.
// Only this system-library target names LLVM's headers; `llvm-c` here links to /usr/lib/llvm-19/include/llvm-c.
#include "llvm-c/Core.h"
#include "llvm-c/Analysis.h"
#include "llvm-c/BitWriter.h"
#include "llvm-c/DebugInfo.h"
#include "llvm-c/Error.h"
#include "llvm-c/IRReader.h"
#include "llvm-c/Linker.h"
#include "llvm-c/LLJIT.h"
#include "llvm-c/Orc.h"
#include "llvm-c/Target.h"
#include "llvm-c/TargetMachine.h"
#include "llvm-c/Transforms/PassBuilder.h"
