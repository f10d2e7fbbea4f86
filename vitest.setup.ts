// Unit tests run in Node: fake-indexeddb provides the IndexedDB globals (IDBRequest,
// IDBKeyRange, …) that idb expects. Each test file resets the factory it needs.
import 'fake-indexeddb/auto';
