// The model's target: the SieveModel plugin adds Mlp.swift (the class Mlp) and libmlp.so, compiled from
// mlp.onnx with the options of sieve.json. This file only says what the module exports.

@_exported import Foundation
