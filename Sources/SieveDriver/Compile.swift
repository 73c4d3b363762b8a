// `sieve compile`: textual graph IR in, a native artifact out (NAME.h, NAME.c, libNAME.a, libNAME.so).
// The same function serves the CLI and the in-process tests.

import Foundation
import SieveCodegenC
import SieveIR
import SieveKernel
import SieveTarget

/// What `sieve compile` was asked to do.
public struct CompileRequest: Sendable {
    /// The IR text.
    public var text: String
    /// The file name, used in diagnostics and to derive the default artifact name.
    public var path: String
    /// The output folder.
    public var outputDirectory: String
    /// The artifact name, or nil to derive it from the file name.
    public var name: String?
    /// The target CPU.
    public var target: TargetDescription
    /// Embedded or external weights.
    public var weights: WeightsPlacement
    /// The C compiler.
    public var compiler: String
    /// Extra C compiler flags.
    public var extraFlags: [String]
    /// Also return the printed kernel IR.
    public var printKernelIR: Bool

    /// Makes a request.
    public init(text: String, path: String, outputDirectory: String, name: String? = nil, target: TargetDescription = .native,
                weights: WeightsPlacement = .embedded, compiler: String = "cc", extraFlags: [String] = [], printKernelIR: Bool = false) {
        self.text = text
        self.path = path
        self.outputDirectory = outputDirectory
        self.name = name
        self.target = target
        self.weights = weights
        self.compiler = compiler
        self.extraFlags = extraFlags
        self.printKernelIR = printKernelIR
    }
}

/// What `sieve compile` produced.
public struct CompileResult: Sendable {
    /// The human report (also written as NAME.report.txt).
    public var report: String
    /// Dumps for standard error (the kernel IR when asked).
    public var dumps: [String]
    /// The files written, by name.
    public var files: [String]
}

/// The artifact name derived from a file name: its base name with anything but letters, digits and
/// underscores replaced by underscores, prefixed with `m_` when it starts with a digit.
public func defaultArtifactName(for path: String) -> String {
    let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    var name = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    if name.isEmpty { name = "model" }
    if let first = name.first, first.isNumber { name = "m_" + name }
    // A file called sieve.onnx or pthread.onnx still compiles: its default name steps out of the reserved prefixes.
    if artifactNameProblem(name) != nil { name = "model_" + name }
    return name
}

/// Runs `sieve compile` in process.
public func runCompile(_ request: CompileRequest) throws(DiagnosticError) -> CompileResult {
    let module = try Parser.parse(request.text, path: request.path)
    try Verifier.verify(module, checks: Verifier.targetChecks)
    guard module.graphs.count == 1, let graph = module.graphs.first else {
        throw DiagnosticError(.error(.file(path: request.path, line: 1, column: 1),
                                     "sieve compile needs exactly one graph, found \(module.graphs.count); split the file"))
    }
    let name = request.name ?? defaultArtifactName(for: request.path)
    let artifact = try ArtifactWriter.write(ArtifactRequest(
        graph: graph, name: name, outputDirectory: request.outputDirectory, target: request.target, weights: request.weights,
        sourceDescription: URL(fileURLWithPath: request.path).lastPathComponent, compiler: request.compiler,
        extraFlags: request.extraFlags))
    var dumps: [String] = []
    if request.printKernelIR {
        dumps.append("// -----// Kernel IR //----- //\n" + artifact.program.print())
    }
    return CompileResult(report: artifact.summary, dumps: dumps, files: artifact.files)
}
