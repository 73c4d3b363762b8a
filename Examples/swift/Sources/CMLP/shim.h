// The header of the compiled model, found through -Xcc -I<folder sieve compile wrote>.
#include <mlp.h>
