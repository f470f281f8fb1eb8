import ContactsCore
import ContactsStore
import FastCGI
import Foundation
import TestSupport
import Testing

@testable import ContactsServer

/// The status page and the metrics, answered by a worker that did not take the last write.
struct OperationsEndpointsTests {
  static func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  static func metric(_ name: String, in bytes: [UInt8]) -> String? {
    String(decoding: bytes, as: UTF8.self).split(separator: "\n")
      .first { $0.hasPrefix("\(name) ") }.map { String($0.dropFirst(name.count + 1)) }
  }

  /// Two workers over one data directory: the one that wrote last and one whose cache is a
  /// write behind. Both pages, from either, report the store's generation, so a scrape and a
  /// status agree whichever worker nginx picks.
  @Test func statusAndMetricsReportTheStoresGenerationNotTheWorkersCache() throws {
    let directory = TemporaryDirectory()
    let writer = try FileContactRepository(directory: directory.path)
    let lagging = try FileContactRepository(directory: directory.path)
    let contact = Contact(id: "c1", type: .custom, name: "Ann", phoneNumber: "1")
    _ = try writer.commit(by: "tester") { _ in .create(contact) }
    let written = writer.cachedGeneration
    #expect(written > lagging.cachedGeneration, "the second worker has not read the write yet")

    let endpoints = OperationsEndpoints(
      scoreboard: nil, slot: nil, poolSize: 2, configuration: ServiceConfiguration())
    let status = try #require(endpoints.respond(to: OperationsEndpoints.statusPath, repository: lagging))
    #expect(try Self.jsonObject(status.body)["dataGeneration"] as? Int == Int(written))
    let metrics = try #require(endpoints.respond(to: OperationsEndpoints.metricsPath, repository: lagging))
    #expect(Self.metric("contacts_data_generation", in: metrics.body) == "\(written)")
  }

  /// A store that cannot be read (its journal gone): the status page still answers, with the
  /// generation the worker last read, and the metrics say the store is down.
  @Test func statusAnswersWithTheCachedGenerationWhenTheStoreCannotBeRead() throws {
    let directory = TemporaryDirectory()
    let repository = try FileContactRepository(directory: directory.path)
    _ = try repository.commit(by: "tester") { _ in .create(Contact(id: "c1", type: .custom, name: "Ann")) }
    let cached = repository.cachedGeneration
    try FileManager.default.removeItem(atPath: directory.file("journal.jsonl"))
    #expect(throws: (any Error).self) { try repository.currentState() }

    let endpoints = OperationsEndpoints(
      scoreboard: nil, slot: nil, poolSize: 2, configuration: ServiceConfiguration())
    let status = try #require(endpoints.respond(to: OperationsEndpoints.statusPath, repository: repository))
    #expect(status.status == 200)
    #expect(try Self.jsonObject(status.body)["dataGeneration"] as? Int == Int(cached))
    let metrics = try #require(endpoints.respond(to: OperationsEndpoints.metricsPath, repository: repository))
    #expect(Self.metric("contacts_store_up", in: metrics.body) == "0")
    #expect(Self.metric("contacts_data_generation", in: metrics.body) == "\(cached)")
  }
}
