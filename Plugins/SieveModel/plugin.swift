// The SwiftPM build plugin: a target whose sources include MODEL.onnx (and optionally sieve.json) gets the model
// compiled by `sieve compile` at build time, as a Swift class (NAME.swift) and libNAME.so among its resources.

import Foundation
import PackagePlugin

/// What the plugin itself reads of sieve.json: the artifact name, which names the command's outputs. Every other
/// option is read by `sieve compile --options-file` when the command runs, so that a change to the file takes effect
/// even when SwiftPM reuses the plugin's commands from an earlier build.
struct PluginOptions: Decodable {
    var name: String?
    /// Read only to make the calibration data an input of the command (relative to sieve.json).
    var calibration: String?
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
        var options = PluginOptions()
        if let optionsFile, let data = try? Data(contentsOf: optionsFile) {
            // A file that does not parse is reported by sieve compile, with the fields it accepts.
            options = (try? JSONDecoder().decode(PluginOptions.self, from: data)) ?? PluginOptions()
        }
        if options.name != nil && models.count > 1 {
            throw SievePluginError(description: "\(optionsFile?.path ?? "sieve.json"): 'name' names one model, but target \(target.name) holds \(models.count) .onnx files; keep one model per target")
        }
        let sieve = try context.tool(named: "sieve").url
        return models.map { model in
            let name = options.name ?? artifactName(model)
            let output = context.pluginWorkDirectoryURL.appending(path: name)
            var arguments = ["compile", model.path, "-o", output.path, "--name", name, "--swift-loader", "bundle", "--quiet"]
            var inputs = [model]
            if let optionsFile {
                arguments += ["--options-file", optionsFile.path]
                inputs.append(optionsFile)
                if let calibration = options.calibration {
                    inputs.append(calibration.hasPrefix("/") ? URL(fileURLWithPath: calibration)
                                  : optionsFile.deletingLastPathComponent().appending(path: calibration))
                }
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
