// Constant folding at import: an op whose operands are all constants is evaluated by the reference interpreter.
// This is how Shape → Gather → Concat → Reshape chains collapse into static shapes once input shapes are fixed.

import SieveIR
import SieveInterpreter

extension GraphBuilder {
    /// Evaluates `kind` on constant operands and returns the result as a constant named `name`.
    func fold(_ kind: OpKind, _ operands: [Constant], resultType: TensorType, name: String,
              location: Location) throws(NodeError) -> Constant {
        do {
            let tensors = try operands.map { constant throws(DiagnosticError) in try Tensor(constant) }
            let result = try Interpreter.evaluate(kind, operands: tensors, resultType: resultType,
                                                  constants: graph.constants, location: location)
            return result.constant(name: name)
        } catch let error as DiagnosticError {
            throw NodeError("folding \(kind.mnemonic) on constant operands failed: "
                            + error.diagnostics.map(\.message).joined(separator: "; "))
        } catch {
            throw NodeError("folding \(kind.mnemonic) on constant operands failed: \(error)")
        }
    }
}
