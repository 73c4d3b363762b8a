// Constant folding for canonicalize: evaluates small pure ops whose operands are all constants.
// Placeholder until the reference interpreter lands; it folds nothing yet.

import SieveIR

@Sendable func foldConstant(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    false
}
