// The SwiftPM build plugin: a target whose sources include MODEL.onnx (and optionally sieve.json) gets the model
// compiled by `sieve compile` at build time, as a Swift class (NAME.swift) and libNAME.so among its resources.

import Foundation
import PackagePlugin

/// The compile options a target's sieve.json may give; every field is optional.
struct SieveOptions: Decodable {
    /// `--sparsity`: an N:M pattern or "auto".
    var sparsity: String?
    /// `--prune`: magnitude, wanda or sparsegpt.
    var prune: String?
    /// `--calibration`, relative to the folder of sieve.json.
    var calibration: String?
    var calibrationSamples: Int?
    var maxError: Double?
    var targetDensity: Double?
    var keepDense: [String]?
    /// `--target`: native, x86-64, x86-64-v3 or x86-64-v4.
    var target: String?
    /// `--name`: the artifact and Swift class name (default: the model file's base name).
    var name: String?
    /// `--input-shape`, by input name: "1x64".
    var inputShapes: [String: String]?
}

/// Errors the plugin reports before any command runs.
struct SievePluginError: Error, CustomStringConvertible {
    var description: String
}

@main
struct SieveModelPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let models = target.sourceFiles.map(\.url).filter { $0.pathExtension == "onnx" }.sorted { $0.path < $1.path }
        guard !models.isEmpty else { return [] }
        let optionsFile = target.sourceFiles.map(\.url).first { $0.lastPathComponent == "sieve.json" }
        var options = SieveOptions()
        if let optionsFile {
            do {
                options = try JSONDecoder().decode(SieveOptions.self, from: Data(contentsOf: optionsFile))
            } catch {
                throw SievePluginError(description: "\(optionsFile.path): not valid Sieve options (\(error)); fields: sparsity, prune, calibration, calibrationSamples, maxError, targetDensity, keepDense, target, name, inputShapes")
            }
        }
        if options.name != nil && models.count > 1 {
            throw SievePluginError(description: "\(optionsFile?.path ?? "sieve.json"): 'name' names one model, but target \(target.name) holds \(models.count) .onnx files; keep one model per target")
        }
        let sieve = try context.tool(named: "sieve").url
        // Relative paths in sieve.json are relative to its folder.
        let folder = optionsFile?.deletingLastPathComponent() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return models.map { model in
            let name = options.name ?? artifactName(model)
            let output = context.pluginWorkDirectoryURL.appending(path: name)
            var arguments = ["compile", model.path, "-o", output.path, "--name", name, "--swift-loader", "bundle", "--quiet"]
            var inputs = [model]
            if let optionsFile { inputs.append(optionsFile) }
            if let sparsity = options.sparsity { arguments += ["--sparsity", sparsity] }
            if let prune = options.prune { arguments += ["--prune", prune] }
            if let calibration = options.calibration {
                let url = calibration.hasPrefix("/") ? URL(fileURLWithPath: calibration) : folder.appending(path: calibration)
                arguments += ["--calibration", url.path]
                inputs.append(url)
            }
            if let samples = options.calibrationSamples { arguments += ["--calibration-samples", String(samples)] }
            if let maxError = options.maxError { arguments += ["--max-error", String(maxError)] }
            if let density = options.targetDensity { arguments += ["--target-density", String(density)] }
            for glob in options.keepDense ?? [] { arguments += ["--keep-dense", glob] }
            if let cpu = options.target { arguments += ["--target", cpu] }
            for (input, shape) in (options.inputShapes ?? [:]).sorted(by: { $0.key < $1.key }) {
                arguments += ["--input-shape", "\(input)=\(shape)"]
            }
            // The sieve executable is an input of the command too (SwiftPM adds it), so a new Sieve recompiles.
            return .buildCommand(displayName: "Sieve: compiling \(model.lastPathComponent) into \(name)", executable: sieve,
                                 arguments: arguments, inputFiles: inputs,
                                 outputFiles: [output.appending(path: "\(name).swift"), output.appending(path: "lib\(name).so")])
        }
    }

    /// The artifact name sieve derives from a file name: letters, digits and underscores, not starting with a digit.
    func artifactName(_ model: URL) -> String {
        var name = String(model.deletingPathExtension().lastPathComponent.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        if name.isEmpty || name.first?.isNumber == true { name = "m_" + name }
        return name
    }
}
