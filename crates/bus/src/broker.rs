use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use chatwire_core::ports::Bus;
use chatwire_core::{CoreResult, Event};

use crate::error::BusError;
use crate::hub::HubInner;

/// Carries events between nodes. A broker only moves bytes; the [`crate::Hub`] decides which
/// channels this node needs.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Subscribes all `channels`, returning once the broker confirmed them.
    async fn subscribe(&self, channels: &[String]) -> Result<(), BusError>;
    async fn unsubscribe(&self, channels: &[String]) -> Result<(), BusError>;
    async fn publish(&self, event: &Event) -> Result<(), BusError>;
    async fn ping(&self) -> Result<(), BusError>;
    /// Called once by the hub it feeds, before any other call.
    fn attach(&self, hub: Weak<HubInner>);
}

/// The in-process broker, used when `REDIS_URL` is unset: a publish is a direct local dispatch,
/// so one node works with no Redis at all.
#[derive(Default)]
pub struct LocalBroker {
    hub: OnceLock<Weak<HubInner>>,
}

#[async_trait]
impl Broker for LocalBroker {
    async fn subscribe(&self, _channels: &[String]) -> Result<(), BusError> {
        Ok(())
    }
    async fn unsubscribe(&self, _channels: &[String]) -> Result<(), BusError> {
        Ok(())
    }
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        if let Some(hub) = self.hub.get().and_then(Weak::upgrade) {
            // Its JSON size, as the Redis broker charges it (this broker is for one node only).
            let bytes = serde_json::to_vec(event).map_or(0, |json| json.len());
            hub.dispatch(&event.channel().name(), Arc::new(event.clone()), bytes);
        }
        Ok(())
    }
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
    fn attach(&self, hub: Weak<HubInner>) {
        let _ = self.hub.set(hub);
    }
}

/// The service's [`Bus`] port: publishing goes straight to the broker.
pub struct BrokerBus(pub Arc<dyn Broker>);

#[async_trait]
impl Bus for BrokerBus {
    async fn publish(&self, event: &Event) -> CoreResult<()> {
        Ok(self.0.publish(event).await?)
    }
    async fn ping(&self) -> CoreResult<()> {
        Ok(self.0.ping().await?)
    }
}
