//! User-level drivers: IRQControl and IRQHandler invocations (seL4's
//! `seL4_IRQControl_Get`, `seL4_IRQControl_GetTrigger`,
//! `seL4_X86_IRQControl_GetIOAPIC`, `seL4_IRQHandler_*`) and x86_64 I/O ports
//! (`seL4_X86_IOPortControl_Issue`, `seL4_X86_IOPort_In8` ...). Every method
//! exists on both architectures so that code can choose at run time; the
//! kernel answers `IllegalOperation` for a form its architecture lacks
//! (`get_io_apic` and the I/O ports are x86_64's, `get`/`get_trigger`
//! aarch64's).

use crate::cap::{IoPort, IoPortControl, IrqControl, IrqHandler, Notification};
use crate::invocation::invoke;
use crate::{AbsoluteCPtr, Cap, InvocationError};
use keel_abi::Label;

/// How an I/O APIC pin signals (x86_64 `get_io_apic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApicPin {
    /// The I/O APIC (0: q35 has one).
    pub ioapic: u64,
    /// Its input pin (0..24).
    pub pin: u64,
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else high).
    pub active_low: bool,
}

impl Cap<IrqControl> {
    /// Makes the handler of `irq` in `dest` (aarch64: a GIC interrupt ID,
    /// keeping its trigger).
    ///
    /// # Errors
    /// `RangeError` for an IRQ the machine lacks; `RevokeFirst` when the line
    /// has a handler or the kernel keeps it; the slot's errors
    /// (`FailedLookup`, `DeleteFirst`); on x86_64 `IllegalOperation`.
    pub fn irq_control_get(self, irq: u64, dest: &AbsoluteCPtr) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::IrqControlGet,
            &[irq, dest.index, dest.depth],
            &[dest.root.cptr()],
        )
        .map(|_| ())
    }

    /// aarch64: as [`Self::irq_control_get`], making an SPI edge-triggered
    /// (`edge`) or level-sensitive.
    ///
    /// # Errors
    /// As [`Self::irq_control_get`].
    pub fn irq_control_get_trigger(
        self,
        irq: u64,
        edge: bool,
        dest: &AbsoluteCPtr,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::IrqControlGetTrigger,
            &[irq, u64::from(edge), dest.index, dest.depth],
            &[dest.root.cptr()],
        )
        .map(|_| ())
    }

    /// x86_64: routes I/O APIC `pin` to `irq` (delivered on vector `0x30 +
    /// irq`; IRQ 0 is the kernel's timer) and makes its handler in `dest`.
    ///
    /// # Errors
    /// `RangeError` for an I/O APIC, pin or flag it lacks, or an IRQ above
    /// 206; `DeleteFirst` for a pin routed already or a full slot;
    /// `RevokeFirst` for a line with a handler or the kernel's.
    pub fn irq_control_get_io_apic(
        self,
        dest: &AbsoluteCPtr,
        pin: IoApicPin,
        irq: u64,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::IrqControlGetIoApic,
            &[
                dest.index,
                dest.depth,
                pin.ioapic,
                pin.pin,
                u64::from(pin.level),
                u64::from(pin.active_low),
                irq,
            ],
            &[dest.root.cptr()],
        )
        .map(|_| ())
    }
}

impl Cap<IrqHandler> {
    /// Unmasks the line: the next interrupt is delivered.
    ///
    /// # Errors
    /// `InvalidCapability` when this is not an IRQHandler cap.
    pub fn irq_handler_ack(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::IrqHandlerAck, &[], &[]).map(|_| ())
    }

    /// Interrupts signal `ntfn` with its badge.
    ///
    /// # Errors
    /// `InvalidCapability` when `ntfn` is not a notification cap that may signal.
    pub fn irq_handler_set_notification(
        self,
        ntfn: Cap<Notification>,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::IrqHandlerSetNotification,
            &[],
            &[ntfn.cptr()],
        )
        .map(|_| ())
    }

    /// Interrupts signal nothing.
    ///
    /// # Errors
    /// `InvalidCapability` when this is not an IRQHandler cap.
    pub fn irq_handler_clear(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::IrqHandlerClear, &[], &[]).map(|_| ())
    }
}

impl Cap<IoPortControl> {
    /// x86_64: makes an IOPort cap for ports `first..=last` in `dest`.
    ///
    /// # Errors
    /// `InvalidArgument(1)` when `last < first`; the slot's errors;
    /// `RevokeFirst` when a port is issued already or the kernel's.
    pub fn ioport_control_issue(
        self,
        first: u16,
        last: u16,
        dest: &AbsoluteCPtr,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            Label::IoPortControlIssue,
            &[u64::from(first), u64::from(last), dest.index, dest.depth],
            &[dest.root.cptr()],
        )
        .map(|_| ())
    }
}

impl Cap<IoPort> {
    fn port_in(self, label: Label, port: u16) -> Result<u64, InvocationError> {
        invoke(self.cptr(), label, &[u64::from(port)], &[]).map(|[value, _]| value)
    }

    fn port_out(self, label: Label, port: u16, value: u64) -> Result<(), InvocationError> {
        invoke(self.cptr(), label, &[u64::from(port), value], &[]).map(|_| ())
    }

    /// Reads a byte from `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when the port is outside the cap's range.
    pub fn ioport_in8(self, port: u16) -> Result<u8, InvocationError> {
        self.port_in(Label::IoPortIn8, port).map(|v| v as u8)
    }

    /// Reads 16 bits from `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when `port..port + 2` is not inside the cap's range.
    pub fn ioport_in16(self, port: u16) -> Result<u16, InvocationError> {
        self.port_in(Label::IoPortIn16, port).map(|v| v as u16)
    }

    /// Reads 32 bits from `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when `port..port + 4` is not inside the cap's range.
    pub fn ioport_in32(self, port: u16) -> Result<u32, InvocationError> {
        self.port_in(Label::IoPortIn32, port).map(|v| v as u32)
    }

    /// Writes a byte to `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when the port is outside the cap's range.
    pub fn ioport_out8(self, port: u16, value: u8) -> Result<(), InvocationError> {
        self.port_out(Label::IoPortOut8, port, u64::from(value))
    }

    /// Writes 16 bits to `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when `port..port + 2` is not inside the cap's range.
    pub fn ioport_out16(self, port: u16, value: u16) -> Result<(), InvocationError> {
        self.port_out(Label::IoPortOut16, port, u64::from(value))
    }

    /// Writes 32 bits to `port`.
    ///
    /// # Errors
    /// `IllegalOperation` when `port..port + 4` is not inside the cap's range.
    pub fn ioport_out32(self, port: u16, value: u32) -> Result<(), InvocationError> {
        self.port_out(Label::IoPortOut32, port, u64::from(value))
    }
}
