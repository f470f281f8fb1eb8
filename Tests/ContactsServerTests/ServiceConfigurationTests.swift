import ContactsCore
import ContactsServer
import Foundation
import TestSupport
import Testing

/// Each setting is defined once; the configuration file and the command line are validated by
/// the same rule.
@Suite struct ServiceConfigurationTests {
  @Test func flagsOverrideTheDefaultsInBothSpellings() throws {
    var configuration = ServiceConfiguration()
    try configuration.applyFlags([
      "--max-body-bytes", "2048", "--listing-cache-bytes=1000", "--access-log", "--socket", "/run/x.sock",
      "--data-dir", "/data",
    ])
    #expect(configuration.maxBodyBytes == 2048)
    #expect(configuration.listingCacheBytes == 1000)
    #expect(configuration.accessLog)
    #expect(configuration.socket == "/run/x.sock")
    #expect(configuration.dataDirectory == "/data")
  }

  @Test(arguments: [
    (["--max-body-bytes", "10"], "from 1024 to"),
    (["--workers", "0"], "from 1 to 256"),
    (["--workers", "9223372036854775808"], "from 1 to 256"),
    (["--request-timeout", "abc"], "whole number"),
    (["--max-body-bytes"], "needs a value"),
    (["--bogus", "1"], "unknown option '--bogus'"),
    (["--socket", ""], "non-empty"),
  ])
  func flagsOutOfRangeAreRefusedNamingTheSetting(arguments: [String], message: String) {
    var configuration = ServiceConfiguration()
    #expect {
      try configuration.applyFlags(arguments)
    } throws: { error in
      "\(error)".contains(message)
    }
  }

  @Test func theFileIsCheckedByTheSameRules() throws {
    let directory = TemporaryDirectory("contacts-config")
    let path = directory.file("contacts.json")
    try #"{"workers": 3, "listingCacheBytes": 4096, "accessLog": true}"#.write(
      toFile: path, atomically: true, encoding: .utf8)
    let configuration = try ServiceConfiguration.load(path: path)
    #expect(configuration.workers == 3 && configuration.listingCacheBytes == 4096 && configuration.accessLog)

    for (text, message) in [
      (#"{"workers": 0}"#, "\"workers\" must be a whole number from 1 to 256"),
      (#"{"workers": "2"}"#, "\"workers\" must be a whole number"),
      (#"{"dataDir": "/x"}"#, "unknown key \"dataDir\""),
      (#"{"accessLog": 1}"#, "true or false"),
    ] {
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      #expect {
        _ = try ServiceConfiguration.load(path: path)
      } throws: { error in
        "\(error)".contains(message)
      }
    }
  }

  @Test func everySettingHasAKeyHelpAndAtMostOneFlag() {
    let settings = ServiceConfiguration.settings
    #expect(Set(settings.map(\.key)).count == settings.count)
    let flags = settings.compactMap(\.flag)
    #expect(Set(flags).count == flags.count)
    #expect(settings.allSatisfy { !$0.help.isEmpty })
    #expect(ServiceConfiguration.settingsHelp.contains("--listing-cache-bytes"))
  }
}
