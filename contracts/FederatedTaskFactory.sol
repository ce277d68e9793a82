// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {FederatedTask} from "./FederatedTask.sol";

/// @title FederatedTaskFactory: creates federated tasks as EIP-1167 clones of one
///        FederatedTask implementation, initialised in the same transaction, and lists them.
/// @dev A separate factory, so the classic Task, its factory and their gas stay as they are.
contract FederatedTaskFactory {
    /// The one FederatedTask contract every clone delegates to.
    address public immutable implementation;

    address[] private _tasks;
    mapping(address => bool) private _created;

    event FederatedTaskCreated(address indexed task, address indexed submitter, uint256 index);

    error CloneFailed();
    error NoSuchTask(uint256 index);

    constructor() {
        implementation = address(new FederatedTask());
    }

    /// @notice Create a federated task submitted by the caller.
    /// @param aggregatorKey the aggregator's X25519 key: updates are sealed for it.
    /// @param auditorKey the submitter's X25519 key: updates are sealed for it too, so it can verify.
    /// @param plan CID digest of the training plan; @param model CID digest of the initial global model.
    function createFederatedTask(
        address aggregator,
        bytes32 aggregatorKey,
        bytes32 auditorKey,
        bytes32 plan,
        bytes32 model,
        address[] calldata participants,
        uint8 rounds,
        uint8 quorum,
        uint32 roundSeconds
    ) external returns (address task) {
        // creation code (10 bytes) returning the runtime: the EIP-1167 proxy + the aggregator
        bytes memory code = abi.encodePacked(
            hex"61",
            uint16(45 + 20),
            hex"3d81600a3d39f3",
            hex"363d3d373d3d3d363d73",
            implementation,
            hex"5af43d82803e903d91602b57fd5bf3",
            aggregator
        );
        assembly ("memory-safe") {
            task := create(0, add(code, 0x20), mload(code))
        }
        if (task == address(0)) revert CloneFailed();
        FederatedTask(task).initialise(
            msg.sender, aggregator, aggregatorKey, auditorKey, plan, model, participants, rounds, quorum, roundSeconds
        );
        uint256 index = _tasks.length;
        _tasks.push(task);
        _created[task] = true;
        emit FederatedTaskCreated(task, msg.sender, index);
    }

    function taskCount() external view returns (uint256) {
        return _tasks.length;
    }

    function taskAt(uint256 index) external view returns (address) {
        if (index >= _tasks.length) revert NoSuchTask(index);
        return _tasks[index];
    }

    /// Tasks `from` to `from + count - 1` (fewer at the end).
    function tasks(uint256 from, uint256 count) external view returns (address[] memory list) {
        uint256 total = _tasks.length;
        uint256 end = from + count;
        if (end > total) end = total;
        if (from > end) from = end;
        list = new address[](end - from);
        for (uint256 i = from; i < end; ++i) {
            list[i - from] = _tasks[i];
        }
    }

    /// Whether `task` was created by this factory.
    function isTask(address task) external view returns (bool) {
        return _created[task];
    }
}
