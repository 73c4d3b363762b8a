// zlib's C header, imported into Swift as the CZlib module.
// Used to inflate deflate-compressed members of .npz archives.
#include <zlib.h>
