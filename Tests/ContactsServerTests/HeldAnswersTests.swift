import ContactsAPI
import ContactsCore
import FastCGI
import Logging
import Testing

@testable import ContactsServer

/// When a worker lets its held answers go, and what it sends for each (`HeldAnswers`).
struct HeldAnswersTests {
  typealias Held = HeldAnswers<Int>

  static func answer(_ ticket: Int, _ method: String, started: UInt64 = 0) -> Held.Answer {
    Held.Answer(
      ticket: ticket, request: APIRequest(method: method, target: "/contacts", caller: .anonymous),
      response: FastCGIResponse(status: method == "POST" ? 201 : 200, body: Array("answer \(ticket)".utf8)),
      started: started, logger: Logger(label: "test"))
  }

  @Test func dueWhenFullOrWhenTheOldestWasAcceptedLongEnoughAgo() {
    var held = Held()
    var due: [Bool] = []
    for ticket in 0..<Held.capacity {
      due.append(held.hold(Self.answer(ticket, "POST", started: 1_000), now: 1_010))
    }
    #expect(due == Array(repeating: false, count: Held.capacity - 1) + [true], "due once full")

    var aging = Held()
    let first = aging.hold(Self.answer(0, "POST", started: 5_000), now: 5_000)
    let second = aging.hold(Self.answer(1, "GET", started: 5_100), now: 5_000 + Held.longestHoldNanoseconds - 1)
    let third = aging.hold(Self.answer(2, "GET", started: 5_200), now: 5_000 + Held.longestHoldNanoseconds)
    #expect([first, second, third] == [false, false, true], "due once the oldest was held long enough")
  }

  @Test func settledAnswersGoOutAsComputedInTheOrderHeld() {
    var held = Held()
    for (ticket, method) in [(3, "POST"), (1, "GET"), (2, "POST")] {
      _ = held.hold(Self.answer(ticket, method), now: 0)
    }
    var settled = 0
    let (answers, failure) = held.release(
      settle: { settled += 1 },
      unavailable: { _, _ in
        Issue.record("no 503 when the changes are durable")
        return APIResponse(status: 503)
      })
    #expect(settled == 1)
    #expect(failure == nil)
    #expect(answers.map(\.0.ticket) == [3, 1, 2])
    #expect(answers.map(\.1.status) == [201, 200, 201])
    #expect(answers.map(\.1.body) == [3, 1, 2].map { Array("answer \($0)".utf8) })
    #expect(held.isEmpty)
  }

  /// A failed flush: every held answer, read or write, becomes the store's 503 (the API's, as
  /// for its method), none of the computed ones goes out.
  @Test func aFailedSettleTurnsEveryHeldAnswerIntoTheStoresUnavailable() throws {
    let api = ContactsAPI(repository: InMemoryContactRepository(contacts: []))
    var held = Held()
    for (ticket, method) in [(0, "POST"), (1, "GET"), (2, "HEAD")] {
      _ = held.hold(Self.answer(ticket, method), now: 0)
    }
    struct FlushFailed: Error {}
    let (answers, failure) = held.release(
      settle: { throw FlushFailed() }, unavailable: { api.unavailableAnswer(to: $0, because: $1) })
    let reported = try #require(failure)
    #expect(reported.duringWrite)
    #expect(answers.map(\.0.ticket) == [0, 1, 2])
    #expect(answers.allSatisfy { $0.1.status == 503 })
    #expect(answers.allSatisfy { response in response.1.headers.contains { $0 == ("Retry-After", "1") } })
    let bodies = answers.map { String(decoding: $0.1.body, as: UTF8.self) }
    #expect(bodies[0].contains("could not save the change"))
    #expect(bodies[1].contains("cannot be read"))
    #expect(bodies[2].isEmpty, "HEAD")
    #expect(held.isEmpty)
  }
}
