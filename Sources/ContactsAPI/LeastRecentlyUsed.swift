/// A dictionary that remembers the order its keys were last used in: lookup, insertion and
/// eviction of the least recently used entry are all O(1) (a hash map into a doubly linked
/// list kept in an array, with freed nodes reused).
struct LeastRecentlyUsed<Key: Hashable, Value> {
  private struct Node {
    var key: Key
    var value: Value
    var newer: Int?
    var older: Int?
  }

  private var nodes: [Node?] = []
  private var freeNodes: [Int] = []
  private var index: [Key: Int] = [:]
  private var newest: Int?
  private var oldest: Int?

  var count: Int { index.count }

  /// The value for `key`, which becomes the most recently used; `nil` when absent.
  mutating func use(_ key: Key) -> Value? {
    guard let position = index[key] else { return nil }
    moveToNewest(position)
    return nodes[position]?.value
  }

  /// Inserts or replaces `value` for `key`, as the most recently used.
  mutating func insert(_ value: Value, for key: Key) {
    if let position = index[key] {
      nodes[position]?.value = value
      moveToNewest(position)
      return
    }
    let node = Node(key: key, value: value, newer: nil, older: newest)
    let position: Int
    if let free = freeNodes.popLast() {
      nodes[free] = node
      position = free
    } else {
      nodes.append(node)
      position = nodes.count - 1
    }
    if let newest { nodes[newest]?.newer = position }
    newest = position
    if oldest == nil { oldest = position }
    index[key] = position
  }

  /// Removes and returns the least recently used entry; `nil` when empty.
  mutating func removeLeastRecentlyUsed() -> (key: Key, value: Value)? {
    guard let position = oldest, let node = nodes[position] else { return nil }
    unlink(position)
    nodes[position] = nil
    freeNodes.append(position)
    index[node.key] = nil
    return (node.key, node.value)
  }

  mutating func removeAll() {
    nodes.removeAll(keepingCapacity: true)
    freeNodes.removeAll(keepingCapacity: true)
    index.removeAll(keepingCapacity: true)
    newest = nil
    oldest = nil
  }

  /// The keys from the most to the least recently used (for tests).
  var keysByRecency: [Key] {
    var keys: [Key] = []
    var cursor = newest
    while let position = cursor, let node = nodes[position] {
      keys.append(node.key)
      cursor = node.older
    }
    return keys
  }

  private mutating func moveToNewest(_ position: Int) {
    guard newest != position else { return }
    unlink(position)
    nodes[position]?.older = newest
    nodes[position]?.newer = nil
    if let newest { nodes[newest]?.newer = position }
    newest = position
    if oldest == nil { oldest = position }
  }

  private mutating func unlink(_ position: Int) {
    guard let node = nodes[position] else { return }
    if let newer = node.newer { nodes[newer]?.older = node.older } else { newest = node.older }
    if let older = node.older { nodes[older]?.newer = node.newer } else { oldest = node.newer }
    nodes[position]?.newer = nil
    nodes[position]?.older = nil
  }
}
