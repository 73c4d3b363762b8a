// Runs the digits MLP that the SieveModel plugin compiled into DigitsModel on one synthetic digit (a vertical
// stroke) and prints the class it gets and the probabilities.

import DigitsModel

do {
    let model = try Mlp(threads: 1)
    var stroke = [Float](repeating: 0, count: 64)
    for row in 0..<8 { stroke[row * 8 + 4] = 16 }
    let probabilities = try model.run([stroke])[0]
    let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
    print("input \(model.inputs[0].name) \(model.inputs[0].shape), output \(model.outputs[0].name) \(model.outputs[0].shape)")
    print("class \(best), probability \(probabilities[best])")
    print("probabilities " + probabilities.map { String($0) }.joined(separator: " "))
} catch {
    print("digits: \(error)")
    exit(1)
}
