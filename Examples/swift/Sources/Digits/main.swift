// Runs the compiled digits MLP from Swift on one synthetic digit (a vertical stroke) and prints the
// class it gets. Shows the C API from Swift: create a context, run with raw pointers, destroy.

import CMLP
#if canImport(Glibc)
import Glibc
#endif

guard let context = mlp_create(1) else {
    print("mlp_create failed")
    exit(1)
}
defer { mlp_destroy(context) }

// One input, so Swift imports the C array mlp_inputs[1] as a single value.
let batch = Int(mlp_inputs.shape[0])
var stroke = [Float](repeating: 0, count: batch * 64)
for row in 0..<8 { stroke[row * 8 + 4] = 16 }  // a vertical stroke in the first digit of the batch
var probabilities = [Float](repeating: 0, count: batch * 10)

let status = stroke.withUnsafeBytes { input in
    probabilities.withUnsafeMutableBytes { output in
        var inputs: [UnsafeRawPointer?] = [input.baseAddress]
        var outputs: [UnsafeMutableRawPointer?] = [output.baseAddress]
        return mlp_run(context, &inputs, &outputs)
    }
}
guard status == 0 else {
    print("mlp_run: \(String(cString: mlp_error_string(status)))")
    exit(1)
}
let best = (0..<10).max { probabilities[$0] < probabilities[$1] } ?? 0
print("class \(best), probability \(probabilities[best])")
