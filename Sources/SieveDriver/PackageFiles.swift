// The build-system files of an artifact: pkg-config files (NAME.pc, NAME-static.pc) and a CMake package
// (NAMEConfig.cmake, NAMEConfigVersion.cmake), with every path relative to the file itself so a moved folder still works.

/// Where an artifact's files lie relative to one another.
enum PackageLayout: Sendable {
    /// The artifact folder: everything side by side.
    case folder
    /// An install prefix: `include/`, `lib/`, `lib/pkgconfig/`, `lib/cmake/NAME/`.
    case prefix
}

/// The text of the pkg-config and CMake files for one artifact.
///
/// Two pkg-config files, because the linker takes `libNAME.so` over `libNAME.a` whenever both lie in the folder
/// `-lNAME` searches: `NAME.pc` links the shared library (`-L… -lNAME`), `NAME-static.pc` names the archive by
/// its path. The archive needs the C library's math and threads, which are `Libs.private` as pkg-config means
/// them (added by `--static`); the shared library records them itself. In CMake the same two are the imported
/// targets `NAME::NAME` (static, the usual choice: the program then needs no library at run time) and
/// `NAME::NAME_shared`.
struct PackageFiles: Sendable {
    /// The artifact name.
    var name: String
    /// Where the files lie.
    var layout: PackageLayout

    /// What the static archive needs from the system, as linker flags (pkg-config).
    static let privateLinkFlags = "-lpthread -lm"

    /// The files, by name: NAME.pc, NAME-static.pc, NAMEConfig.cmake, NAMEConfigVersion.cmake.
    var files: [(name: String, text: String)] {
        [("\(name).pc", pkgConfig(static: false)), ("\(name)-static.pc", pkgConfig(static: true)),
         ("\(name)Config.cmake", cmakeConfig), ("\(name)ConfigVersion.cmake", cmakeConfigVersion)]
    }

    /// Where each file goes under an install prefix.
    static func installFolder(ofPackageFile file: String, name: String) -> String {
        file.hasSuffix(".pc") ? "lib/pkgconfig" : "lib/cmake/\(name)"
    }

    /// A pkg-config file; `${pcfiledir}` is the folder the file is in when pkg-config reads it.
    func pkgConfig(static isStatic: Bool) -> String {
        let prefix = layout == .folder ? "${pcfiledir}" : "${pcfiledir}/../.."
        let libdir = layout == .folder ? "${prefix}" : "${prefix}/lib"
        let includedir = layout == .folder ? "${prefix}" : "${prefix}/include"
        let fileName = isStatic ? "\(name)-static.pc" : "\(name).pc"
        let libs = isStatic ? "${libdir}/lib\(name).a" : "-L${libdir} -l\(name)"
        let description = isStatic
            ? "model \(name) compiled by Sieve, static archive (link with pkg-config --static)"
            : "model \(name) compiled by Sieve, shared library"
        return """
            # \(fileName): pkg-config file of the model \(name) compiled by Sieve \(sieveVersion).
            # Paths are relative to this file, so the folder may be moved. Version is the Sieve version: the model has none of its own.
            prefix=\(prefix)
            libdir=\(libdir)
            includedir=\(includedir)

            Name: \(name)\(isStatic ? "-static" : "")
            Description: \(description)
            Version: \(sieveVersion)
            Cflags: -I${includedir}
            Libs: \(libs)
            Libs.private: \(PackageFiles.privateLinkFlags)

            """
    }

    /// `NAMEConfig.cmake`: the imported targets `NAME::NAME` (static) and `NAME::NAME_shared`.
    var cmakeConfig: String {
        let root = layout == .folder ? "${CMAKE_CURRENT_LIST_DIR}" : "${CMAKE_CURRENT_LIST_DIR}/../../.."
        let libdir = layout == .folder ? "${_\(name)_root}" : "${_\(name)_root}/lib"
        let includedir = layout == .folder ? "${_\(name)_root}" : "${_\(name)_root}/include"
        return """
            # \(name)Config.cmake: CMake package of the model \(name) compiled by Sieve \(sieveVersion).
            # find_package(\(name)) defines \(name)::\(name) (the static archive) and \(name)::\(name)_shared (the shared
            # library). Paths are relative to this file, so the folder may be moved.
            include(CMakeFindDependencyMacro)
            find_dependency(Threads)

            get_filename_component(_\(name)_root "\(root)" ABSOLUTE)
            if(NOT TARGET \(name)::\(name))
              add_library(\(name)::\(name) STATIC IMPORTED)
              set_target_properties(\(name)::\(name) PROPERTIES
                IMPORTED_LOCATION "\(libdir)/lib\(name).a"
                IMPORTED_LINK_INTERFACE_LANGUAGES "C"
                INTERFACE_INCLUDE_DIRECTORIES "\(includedir)"
                INTERFACE_LINK_LIBRARIES "Threads::Threads;m")
            endif()
            if(NOT TARGET \(name)::\(name)_shared)
              add_library(\(name)::\(name)_shared SHARED IMPORTED)
              set_target_properties(\(name)::\(name)_shared PROPERTIES
                IMPORTED_LOCATION "\(libdir)/lib\(name).so"
                IMPORTED_SONAME "lib\(name).so"
                INTERFACE_INCLUDE_DIRECTORIES "\(includedir)")
            endif()
            unset(_\(name)_root)

            """
    }

    /// `NAMEConfigVersion.cmake`: the Sieve version, any requested version up to it accepted, and a build for
    /// another architecture refused (the libraries are 64-bit x86 code).
    var cmakeConfigVersion: String {
        """
        # \(name)ConfigVersion.cmake: version check of the model \(name) compiled by Sieve \(sieveVersion).
        # The version is Sieve's (the model has none of its own); the libraries hold 64-bit x86 code.
        set(PACKAGE_VERSION "\(sieveVersion)")
        if(PACKAGE_FIND_VERSION AND PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
          set(PACKAGE_VERSION_COMPATIBLE FALSE)
        else()
          set(PACKAGE_VERSION_COMPATIBLE TRUE)
          if(PACKAGE_FIND_VERSION AND PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
            set(PACKAGE_VERSION_EXACT TRUE)
          endif()
        endif()
        # Checked only when a language is enabled (project(... NONE) defines neither variable).
        if((CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
           OR (CMAKE_SYSTEM_PROCESSOR AND NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"))
          set(PACKAGE_VERSION "\(sieveVersion) (x86-64, 64-bit)")
          set(PACKAGE_VERSION_UNSUITABLE TRUE)
        endif()

        """
    }
}
