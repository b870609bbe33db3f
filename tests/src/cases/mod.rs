//! The test table: every on-target test, by category.

mod bootinfo;
mod fault;
mod syscall;

crate::test_cases! {
    BOOTINFO0001: "BootInfo has the magic number and this build's architecture" => bootinfo::magic_and_arch;
    BOOTINFO0002: "every untyped lies inside reported RAM, aligned to its size" => bootinfo::untyped_inside_ram;
    BOOTINFO0003: "untypeds overlap neither each other, the kernel image nor the boot archive" => bootinfo::untyped_disjoint;
    BOOTINFO0004: "the untyped and archive-frame slot ranges hold caps of those types" => bootinfo::slot_ranges_typed;
    BOOTINFO0005: "every slot in the empty range is really empty, up to the end of the CNode" => bootinfo::empty_slots_empty;
    BOOTINFO0006: "the initial caps are in their fixed slots with the right types" => bootinfo::initial_caps;
    BOOTINFO0007: "the boot archive is mapped where BootInfo says and holds the manifest and root task" => bootinfo::archive_mapped;
    BOOTINFO0008: "the kernel hands out most of RAM as untyped" => bootinfo::most_ram_untyped;
    SYSCALL0001: "debug put-char and thread naming succeed" => syscall::debug_calls;
    SYSCALL0002: "an unknown system-call number returns UnknownSyscall" => syscall::unknown_syscall;
    SYSCALL0003: "IPC system calls on a kernel without IPC objects return IllegalOperation" => syscall::ipc_without_objects;
    SYSCALL0004: "cap identify past the end of the CNode returns FailedLookup" => syscall::identify_out_of_range;
    SYSCALL0005: "thread naming rejects an unmapped pointer and an over-long name" => syscall::name_thread_errors;
    SYSCALL0006: "yield with one thread returns to the caller" => syscall::yield_returns;
    FAULT0001: "a write to a read-only page is reported as a write fault and the kernel stays up" => fault::write_read_only, OwnBoot;
    FAULT0002: "a read of an unmapped address is reported as a read fault" => fault::read_unmapped, OwnBoot;
    FAULT0003: "executing a non-executable page is reported as an execute fault" => fault::execute_no_exec, OwnBoot;
    FAULT0004: "an undefined instruction is reported and the kernel stays up" => fault::undefined_instruction, OwnBoot;
}
