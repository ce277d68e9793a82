// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Task} from "./Task.sol";

/// @title TaskFactory: creates tasks as EIP-1167 minimal proxies of one Task implementation and
///        keeps their registry.
/// @dev A task's code is the 45-byte EIP-1167 proxy followed by its creation arguments
///      (submitter, results key, application id and owner, platform id and owner; see Task).
///      Tasks are created with CREATE, so the n-th task's address follows from the factory's
///      address and nonce (n + 2: the implementation took nonce 1); the registry stores the
///      count and, per submitter, the indices of its tasks (eight to a storage word).
contract TaskFactory {
    /// The one Task contract every clone delegates to.
    address public immutable implementation;

    /// One more than the number of tasks created (starts at 1, so the first task does not pay
    /// for a fresh storage word).
    uint256 private _countPlusOne = 1;
    /// Per submitter, the factory indices of its tasks as 32-bit fields: word 0 holds the count
    /// (low 32 bits) and the first 7 indices, every further word 8 more.
    mapping(address => mapping(uint256 => uint256)) private _indexWords;

    event TaskCreated(
        address indexed task,
        address indexed submitter,
        uint256 index,
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
        if (resultsKey == bytes32(0)) revert MissingKey();
        if (applicationOwner == address(0) || platformOwner == address(0)) revert ZeroAddress();
        if (applicationId == bytes32(0) || platformId == bytes32(0)) revert MissingId();
        // creation code (10 bytes) that returns the runtime: the EIP-1167 proxy + the arguments
        bytes memory code = abi.encodePacked(
            hex"61",
            uint16(45 + 157), // escrow hook: + 1 byte, paid
            hex"3d81600a3d39f3",
            hex"363d3d373d3d3d363d73",
            implementation,
            hex"5af43d82803e903d91602b57fd5bf3",
            msg.sender,
            resultsKey,
            applicationId,
            applicationOwner,
            platformId,
            platformOwner,
            paid // escrow hook
        );
        assembly ("memory-safe") {
            task := create(0, add(code, 0x20), mload(code))
        }
        if (task == address(0)) revert CloneFailed();
        uint256 index = _countPlusOne - 1;
        _countPlusOne = index + 2;
        _pushIndex(msg.sender, index);
        emit TaskCreated(task, msg.sender, index, applicationId, applicationOwner, platformId, platformOwner);
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

    /// How many tasks `submitter` created.
    function taskCountOf(address submitter) public view returns (uint256) {
        return uint32(_indexWords[submitter][0]);
    }

    /// Every task `submitter` created, oldest first.
    function tasksOf(address submitter) external view returns (address[] memory list) {
        uint256 n = taskCountOf(submitter);
        list = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            (uint256 word, uint256 shift) = _position(i);
            list[i] = _addressAt(uint32(_indexWords[submitter][word] >> shift) + 2);
        }
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

    /// Where a submitter's i-th index lives: word and bit shift.
    function _position(uint256 i) private pure returns (uint256 word, uint256 shift) {
        if (i < 7) return (0, 32 * (i + 1));
        i -= 7;
        return (1 + i / 8, 32 * (i % 8));
    }

    function _pushIndex(address submitter, uint256 index) private {
        mapping(uint256 => uint256) storage words = _indexWords[submitter];
        uint256 head = words[0];
        uint256 n = uint32(head);
        head = (head & ~uint256(0xffffffff)) | (n + 1);
        (uint256 word, uint256 shift) = _position(n);
        if (word == 0) {
            words[0] = head | (index << shift);
        } else {
            words[0] = head;
            words[word] |= index << shift;
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
