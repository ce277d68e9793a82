// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Task} from "./Task.sol";

/// @title TaskFactory: creates tasks as EIP-1167 minimal proxies of one Task implementation
///        with immutable arguments, and counts them.
/// @dev A task's code is the 45-byte EIP-1167 proxy followed by its clone arguments (see
///      Task: submitter, application and platform owners, creation block, (escrow hook) paid, then the owners of
///      the resource requests made at creation). What only people read (results key,
///      application and platform ids) is in the TaskCreated event, not in code or storage.
///      Tasks are created with CREATE, so the n-th task's address follows from the factory's
///      address and nonce (n + 2: the implementation took nonce 1); the registry is one
///      counter. A submitter's tasks are found by TaskCreated's indexed `submitter`.
contract TaskFactory {
    /// The one Task contract every clone delegates to.
    address public immutable implementation;

    /// One more than the number of tasks created (starts at 1, so the first task does not pay
    /// for a fresh storage word).
    uint256 private _countPlusOne = 1;

    event TaskCreated(
        address indexed task,
        address indexed submitter,
        uint256 index,
        bytes32 resultsKey,
        bytes32 applicationId,
        address applicationOwner,
        bytes32 platformId,
        address platformOwner
    );

    error CloneFailed();
    error NoSuchTask(uint256 index);
    error ZeroAddress();
    error MissingId();
    error MissingKey();
    error TooManyEntries();
    error LengthMismatch();
    error PaidLock(); // escrow hook: a paid task is locked by its escrow (Escrow.fund), not at creation

    constructor() {
        implementation = address(new Task());
    }

    /// @notice Create a task owned by the caller, for this application and platform.
    /// @param resultsKey the submitter's X25519 public key: results are encrypted for it.
    /// @param paid whether the task must be funded through the escrow before it can lock (escrow hook).
    function createTask(
        bytes32 resultsKey,
        bytes32 applicationId,
        address applicationOwner,
        bytes32 platformId,
        address platformOwner,
        bool paid // escrow hook: the task must be funded through the escrow (see Escrow.sol)
    ) external returns (address task) {
        task = _create(resultsKey, applicationId, applicationOwner, platformId, platformOwner, paid, new address[](0));
    }

    /// @notice Create a task with its resource requests made at once (their owners become clone
    ///         arguments: far cheaper than storage) and, with `lock`, locked in the same
    ///         transaction. The same checks as addRequests and lock, in one transaction.
    function createTaskWithRequests(
        bytes32 resultsKey,
        bytes32 applicationId,
        address applicationOwner,
        bytes32 platformId,
        address platformOwner,
        bytes32[] calldata datasetIds,
        address[] calldata owners,
        bool lock,
        bool paid // escrow hook: a paid task cannot be locked here (Escrow.fund locks it)
    ) external returns (address task) {
        if (paid && lock) revert PaidLock();
        if (datasetIds.length != owners.length) revert LengthMismatch();
        if (owners.length > 200) revert TooManyEntries();
        for (uint256 i = 0; i < owners.length; ++i) {
            if (owners[i] == address(0)) revert ZeroAddress();
        }
        task = _create(resultsKey, applicationId, applicationOwner, platformId, platformOwner, paid, owners);
        if (owners.length != 0 || lock) Task(task).initialize(datasetIds, lock);
    }

    /// Tasks created by this factory, over all submitters.
    function taskCount() public view returns (uint256) {
        return _countPlusOne - 1;
    }

    /// The factory's `index`-th task (counting from 0).
    function taskAt(uint256 index) external view returns (address) {
        if (index >= taskCount()) revert NoSuchTask(index);
        return _addressAt(index + 2);
    }

    /// Tasks `from` to `from + count - 1` over all submitters (fewer at the end).
    function tasks(uint256 from, uint256 count) external view returns (address[] memory list) {
        uint256 total = taskCount();
        uint256 end = from + count;
        if (end > total) end = total;
        if (from > end) from = end;
        list = new address[](end - from);
        for (uint256 i = from; i < end; ++i) {
            list[i - from] = _addressAt(i + 2);
        }
    }

    function _create(
        bytes32 resultsKey,
        bytes32 applicationId,
        address applicationOwner,
        bytes32 platformId,
        address platformOwner,
        bool paid,
        address[] memory owners
    ) private returns (address task) {
        if (resultsKey == bytes32(0)) revert MissingKey();
        if (applicationOwner == address(0) || platformOwner == address(0)) revert ZeroAddress();
        if (applicationId == bytes32(0) || platformId == bytes32(0)) revert MissingId();
        bytes memory code = _cloneCode(applicationOwner, platformOwner, paid, owners);
        assembly ("memory-safe") {
            task := create(0, add(code, 0x20), mload(code))
        }
        if (task == address(0)) revert CloneFailed();
        uint256 index = _countPlusOne - 1;
        _countPlusOne = index + 2;
        emit TaskCreated(task, msg.sender, index, resultsKey, applicationId, applicationOwner, platformId, platformOwner);
    }

    /// Creation code (10 bytes) that returns the runtime: the EIP-1167 proxy followed by the
    /// clone arguments, in Task's ARG_* order.
    function _cloneCode(address applicationOwner, address platformOwner, bool paid, address[] memory owners)
        private
        view
        returns (bytes memory code)
    {
        uint256 n = owners.length;
        uint256 fixedLength = 20 + 20 + 20 + 4 + 1 + 1; // + 1: paid (escrow hook)
        code = abi.encodePacked(
            hex"61",
            uint16(45 + fixedLength + 20 * n),
            hex"3d81600a3d39f3",
            hex"363d3d373d3d3d363d73",
            implementation,
            hex"5af43d82803e903d91602b57fd5bf3",
            msg.sender,
            applicationOwner,
            platformOwner,
            uint32(block.number),
            paid, // escrow hook
            uint8(n),
            owners // packed encoding pads each to 32 bytes: moved to 20-byte strides below
        );
        uint256 start = 10 + 45 + fixedLength;
        for (uint256 i = 0; i < n; ++i) {
            address owner = owners[i];
            assembly ("memory-safe") {
                mstore(add(add(code, 0x20), add(start, mul(20, i))), shl(96, owner))
            }
        }
        assembly ("memory-safe") {
            mstore(code, add(start, mul(20, n)))
        }
    }

    /// The address CREATE gives this factory's contract number `nonce`: keccak256(rlp([this, nonce])).
    function _addressAt(uint256 nonce) private view returns (address) {
        bytes memory n;
        if (nonce <= 0x7f) n = abi.encodePacked(uint8(nonce));
        else if (nonce <= 0xff) n = abi.encodePacked(bytes1(0x81), uint8(nonce));
        else if (nonce <= 0xffff) n = abi.encodePacked(bytes1(0x82), uint16(nonce));
        else if (nonce <= 0xffffff) n = abi.encodePacked(bytes1(0x83), uint24(nonce));
        else n = abi.encodePacked(bytes1(0x84), uint32(nonce));
        bytes32 h = keccak256(abi.encodePacked(bytes1(uint8(0xd5 + n.length)), bytes1(0x94), address(this), n));
        return address(uint160(uint256(h)));
    }
}
